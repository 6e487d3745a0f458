// Package storage owns PostgreSQL: the connection pool (working as the
// fhir_app role), every table's migrations (storage/migrations, embedded,
// one numbered sequence applied by tern, forward-only), transactions with
// their retries, and the clinical data: the append-only version rows and
// their search indexes, the inbound log, the audit chain, field encryption
// and its data keys, roles, care relationships, break-glass, scheduling and
// telehealth state.
//
// Domains that stand on their own live in subpackages: storage/oauth (the
// authorization server's and SMART's state). They share the pool, the admin
// audit and the sentinels (ErrNotFound, ErrConflict) through the small
// surface in domain.go, and keep their own SQL.
//
// It imports pgx, tern and storage/keyring, and nothing else of the
// server. Among the server's packages, storage and its subpackages are the
// only ones that import pgx; everything above them speaks in Go values.
// (cmd/fhirbench, a standalone load tool, measures the bare-pgx floor with
// pgx directly.) Also here: storage/embedded runs the private cluster,
// storage/keyring keeps the keys that protect data at rest, and
// storage/storagetest gives each test its own database.
package storage
