// Package storage owns PostgreSQL: the connection pool (working as the
// fhir_app role), every table's migrations (storage/migrations, embedded,
// one numbered sequence applied by tern, forward-only), transactions with
// their retries, and the clinical data: the append-only version rows and
// their search indexes, the inbound log, roles, care relationships,
// break-glass, and the application of field encryption to resources: what
// the Protection the type rules declare names is sealed, opened and
// indexed blind with the Cipher that storage/keys gives (SetFieldCipher).
// A write transaction that carries an audit record (Tx.Audit) hands it to
// the TxAuditor the audit log installed, which links it into the chain
// before the transaction commits.
//
// Domains that stand on their own live in subpackages: storage/oauth (the
// authorization server's and SMART's state), storage/audit (the audit log:
// the record's shape, its chains and key, verification and search),
// storage/keys (the data keys, their generations, rotation and rewrap, and
// the cipher) and storage/scheduling (slot units and bookings, appointment
// events, availability, no-shows, the waitlist, telehealth sessions). They
// share the pool, connections of their own, a write transaction's own
// statements (Tx.Querier, for what commits with it), the admin audit and
// the sentinels (ErrNotFound, ErrConflict) through the small surface in
// domain.go, and keep their own SQL. The root knows the audit log and the
// cipher only by the interfaces it declares (TxAuditor, Cipher).
//
// It imports pgx and tern, and nothing else of the server (its
// subpackages import it, not it them). Among the server's packages,
// storage and its subpackages are the only ones that import pgx;
// everything above them speaks in Go values. (cmd/fhirbench, a standalone
// load tool, measures the bare-pgx floor with pgx directly.) Also here:
// storage/embedded runs the private cluster, storage/keyring keeps the
// keys that protect data at rest, and storage/storagetest gives each test
// its own database.
package storage
