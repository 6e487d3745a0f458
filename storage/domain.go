package storage

import (
	"context"
	"errors"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// This file is what the domain subpackages under storage/ (storage/oauth)
// build on: the pool, the admin audit and the error helpers. It is small on
// purpose; a domain package keeps its own tables and SQL and returns this
// package's sentinels (ErrNotFound, ErrConflict).

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
