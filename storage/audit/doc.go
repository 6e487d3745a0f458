// Package audit is the server's audit log, whole: the shape of a record,
// the HMAC chains it is kept in, their key, their verification, and the
// search auditors read it by.
//
// A Record is one FHIR interaction as IHE's Basic Audit Log Patterns
// describe it: the interaction (and so the action), the outcome of its
// status, the client with its address and user agent, the user and their
// fhirUser, the purpose of use (treatment, or break-the-glass while the
// user's emergency access is in force), the resources touched and a
// search's query. Record.JSON renders it as the FHIR AuditEvent the chain
// keeps. What may appear in a record is decided here: a search's values
// that the database keeps only encrypted (an SSN in any parameter, a
// blind string parameter, a sensitive code) are kept by their blind index
// value (Blinder) or withheld, never in clear, and nothing but valid UTF-8
// without NUL is kept of what a client sent. The caller (fhirserver)
// translates its request into a Record and knows nothing of the AuditEvent.
//
// Log appends rendered records in links of HMAC-SHA-256 chains, one chain
// per stripe: each stripe has a writer on a connection of its own (named
// ApplicationName in pg_stat_activity), which commits whatever records are
// waiting as one link, and each server claims its stripes with an advisory
// lock, so servers sharing a database never race for a link. Requests'
// records (Record) all go to the first stripe, whose writer thereby makes
// links as large as the load (group commit: one statement and one WAL
// flush for every record that waited during the last); a write
// transaction's record is linked inside that transaction in one of the
// other stripes (CommitWith, the storage.TxAuditor that Store.Open
// installs), so a write commits with its record or not at all. A link is
// one row that keeps its records in itself (their times, and their
// AuditEvents as the exact bytes the MAC covers: text, no json parse on
// insert), and the log gives each AuditEvent the id of its place,
// stripe.link.position (PlaceID), so that the read by id is the link's
// primary key (migration 038). Links written before keep their records
// in rows of audit_event, as json (event_json, before migration 035) or
// text with an id column, and verify and read as before; the view
// audit_record shows every record either way. Store.Key gives the chains'
// key, made by the key provider and
// kept only wrapped; Store.RewrapKey moves it to another key-encryption
// key; Store.Verify recomputes every chain and names the first broken
// link; Store.Event, Events and Count read the log for the AuditEvent read
// and search.
//
// It imports storage (the pool, connections of its own, long reads, the
// admin audit, the sentinels, storage.Key and storage.TxAuditor),
// storage/keyring and pgx, and nothing else of the server. Its tables
// (audit_key, audit_link, audit_event) and view (audit_record) are
// created by the migrations in storage/migrations.
package audit
