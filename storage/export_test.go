package storage

import "github.com/jackc/pgx/v5/pgxpool"

// ReadCurrentSQL is exposed to the external tests, which check its plan.
const ReadCurrentSQL = readCurrentSQL

// SearchSQL is the SQL and arguments of Store.Search, for plan tests.
func SearchSQL(c Criteria) (string, []any) {
	return c.sql("v.type, v.id, v.version, v.seq, v.last_updated, v.method, v.deleted, v.resource", true)
}

// Pool is the store's connection pool, for tests that exhaust it.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }
