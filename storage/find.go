package storage

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

// Token matches an Identifier: a nil System or Value matches anything, and
// an empty System matches identifiers without one.
type Token struct{ System, Value *string }

// Criteria selects current, non-deleted resources of one type. Each inner
// slice is a set of alternatives (OR); the slices are combined with AND.
type Criteria struct {
	Type        string
	IDs         [][]string
	Identifiers [][]Token
	After       string // only ids greater than this, for paging
	Limit       int
}

// Find returns the ids of the current resources that match, in id order.
func (s *Store) Find(ctx context.Context, c Criteria) ([]string, error) {
	return find(ctx, s.pool, c)
}

// Find is Store.Find inside the transaction, seeing its own writes.
func (t *Tx) Find(ctx context.Context, c Criteria) ([]string, error) {
	return find(ctx, t.tx, c)
}

// Search returns the current versions that match, in id order.
func (s *Store) Search(ctx context.Context, c Criteria) ([]Version, error) {
	sql, args := c.sql("v.type, v.id, v.version, v.seq, v.last_updated, v.method, v.deleted, v.resource")
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("storage: search: %w", err)
	}
	vs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Version, error) { return scanVersion(r) })
	if err != nil {
		return nil, fmt.Errorf("storage: search: %w", err)
	}
	return vs, nil
}

func find(ctx context.Context, q querier, c Criteria) ([]string, error) {
	sql, args := c.sql("v.id")
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("storage: find: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("storage: find: %w", err)
	}
	return ids, nil
}

func (c Criteria) sql(columns string) (string, []any) {
	var b strings.Builder
	args := []any{c.Type}
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	b.WriteString(`SELECT ` + columns + ` FROM resource_version v WHERE v.type = $1 AND NOT v.deleted
		AND v.version = (SELECT max(version) FROM resource_version m WHERE m.type = v.type AND m.id = v.id)`)
	for _, ids := range c.IDs {
		fmt.Fprintf(&b, " AND v.id = ANY(%s)", arg(ids))
	}
	for _, alts := range c.Identifiers {
		var ors []string
		for _, tok := range alts {
			conds := []string{"true"}
			if tok.System != nil {
				conds = append(conds, "i.system = "+arg(*tok.System))
			}
			if tok.Value != nil {
				conds = append(conds, "i.value = "+arg(*tok.Value))
			}
			ors = append(ors, "("+strings.Join(conds, " AND ")+")")
		}
		fmt.Fprintf(&b, ` AND EXISTS (SELECT 1 FROM resource_identifier i
			WHERE i.type = v.type AND i.id = v.id AND i.version = v.version AND (%s))`, strings.Join(ors, " OR "))
	}
	if c.After != "" {
		fmt.Fprintf(&b, " AND v.id > %s", arg(c.After))
	}
	b.WriteString(" ORDER BY v.id")
	if c.Limit > 0 {
		fmt.Fprintf(&b, " LIMIT %d", c.Limit)
	}
	return b.String(), args
}

// Lock takes a transaction-scoped advisory lock on name, so that two
// conditional writes with the same criteria run one after the other and the
// second sees what the first wrote.
func (t *Tx) Lock(ctx context.Context, name string) error {
	if _, err := t.tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, name); err != nil {
		return fmt.Errorf("storage: lock: %w", err)
	}
	return nil
}
