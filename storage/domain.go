package storage

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// This file is what the domain subpackages under storage/ (storage/oauth,
// storage/audit, storage/keys, storage/scheduling) build on: the pool,
// plain transactions, connections of their own, a write transaction's own
// statements, the admin audit, the hooks of write transactions (the audit
// record, the field cipher) and the error helpers. It is small on purpose;
// a domain package keeps its own tables and SQL and returns this package's
// sentinels (ErrNotFound, ErrConflict).

// Querier is what both the pool and a transaction offer.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// Querier is the store's pool, for a domain package's statements. Each
// statement is a transaction of its own.
func (s *Store) Querier() Querier { return s.pool }

// AdminAudited wraps an INSERT ... RETURNING <target> so that the same
// statement records action in admin_audit: the change and its record commit
// together or not at all. The actor (Actor(ctx)) is the statement's last
// argument, after the nargs of insert.
func AdminAudited(insert, action string, nargs int) string {
	return adminAudited(insert, action, nargs)
}

// Actor is who performs the administrative actions made with ctx, as
// WithActor named it; "unknown" when nobody did.
func Actor(ctx context.Context) string { return actorOf(ctx) }

// IsUniqueViolation reports whether err is a unique or primary key
// violation: what was inserted is there already.
func IsUniqueViolation(err error) bool { return isUniqueViolation(err) }

func isUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == pgerrcode.UniqueViolation
}

// TxAuditor links a write's audit record into the audit chain inside the
// write's transaction and commits that transaction (storage/audit's Log):
// the writes and their record are durable together or not at all. It is
// the only thing outside this package that sees a write's pgx.Tx.
type TxAuditor interface {
	CommitWith(ctx context.Context, tx pgx.Tx, event []byte) error
}

// SetTxAuditor makes a the auditor of the transactions that carry an audit
// record (Tx.Audit); without one such a transaction fails.
func (s *Store) SetTxAuditor(a TxAuditor) { s.audit = a }

// Connect opens a connection of its own, outside the pool and set up as
// the pool's are (the fhir_app role), named application in
// pg_stat_activity and without the pool's statement timeout: for a writer
// that must never wait for a pooled connection behind the requests it
// serves. The caller closes it.
func (s *Store) Connect(ctx context.Context, application string) (*pgx.Conn, error) {
	cfg := s.pool.Config()
	cc := cfg.ConnConfig.Copy()
	cc.RuntimeParams["application_name"] = application
	// A request's budget is not the writer's.
	delete(cc.RuntimeParams, "statement_timeout")
	c, err := pgx.ConnectConfig(ctx, cc)
	if err != nil {
		return nil, err
	}
	if cfg.AfterConnect != nil {
		if err := cfg.AfterConnect(ctx, c); err != nil {
			_ = c.Close(ctx)
			return nil, err
		}
	}
	return c, nil
}

// LongRead runs fn in a read-only transaction without statement timeout,
// for a long job that reads much (verifying the audit log).
func (s *Store) LongRead(ctx context.Context, fn func(q Querier) error) error {
	return pgx.BeginTxFunc(ctx, s.pool, unbounded, func(tx pgx.Tx) error { return fn(tx) })
}

// Transact runs fn in a plain transaction of the pool, without retries or
// an audit record, and commits it when fn succeeds: for a domain
// package's bookkeeping that takes a transaction-scoped lock (the data
// keys).
func (s *Store) Transact(ctx context.Context, fn func(tx Querier) error) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error { return fn(tx) })
}

// Querier is the transaction's own, for a domain package's statements
// that commit with the transaction's writes (storage/scheduling's).
func (t *Tx) Querier() Querier { return t.tx }

// Now is the timestamp of a write, at the precision PostgreSQL keeps.
func Now() time.Time { return now() }
