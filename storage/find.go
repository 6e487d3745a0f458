package storage

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

// Clause is one condition of a search, written by the search package
// against the index tables: it renders SQL that refers to the candidate
// version as v, and gets a placeholder for each value from arg.
type Clause func(arg func(any) string) string

// Criteria selects current, non-deleted resources of one type: those
// matching every clause, in id order.
type Criteria struct {
	Type    string
	Clauses []Clause
	// Snapshot, when positive, searches the store as it was when seq
	// Snapshot was the newest: later versions are ignored, so the pages of
	// one search agree while new data arrives.
	Snapshot int64
	After    string // only ids greater than this (next pages)
	Before   string // only ids less than this, the closest first (previous pages)
	// Sort orders by these keys, then by id; pages of a sorted search are
	// read by Offset (stable, since the snapshot fixes the result set).
	Sort   []Sort
	Offset int
	Limit  int
}

// Sort is one _sort key: an SQL expression of the candidate version v.
type Sort struct {
	Expr Clause
	Desc bool
}

// Newest is the seq of the newest version, a snapshot for paging.
func (s *Store) Newest(ctx context.Context) (int64, error) {
	var n int64
	err := s.pool.QueryRow(ctx, `SELECT coalesce(max(seq), 0) FROM resource_version`).Scan(&n)
	return n, err
}

// Find returns the ids of the current resources that match, in id order.
func (s *Store) Find(ctx context.Context, c Criteria) ([]string, error) {
	return find(ctx, s.pool, c)
}

// Find is Store.Find inside the transaction, seeing its own writes.
func (t *Tx) Find(ctx context.Context, c Criteria) ([]string, error) {
	return find(ctx, t.tx, c)
}

// Search returns the current versions that match, in id order; with
// Before, the Limit closest below it.
func (s *Store) Search(ctx context.Context, c Criteria) ([]Version, error) {
	sql, args := c.sql("v.type, v.id, v.version, v.seq, v.last_updated, v.method, v.deleted, v.resource")
	rows, err := s.pool.Query(ctx, sql, planned(args)...)
	if err != nil {
		return nil, fmt.Errorf("storage: search: %w", err)
	}
	vs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Version, error) { return scanVersion(r) })
	if err != nil {
		return nil, fmt.Errorf("storage: search: %w", err)
	}
	if c.Before != "" {
		slices.Reverse(vs) // fetched closest first; pages read in id order
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
	newer := "n.version > v.version"
	b.WriteString(`SELECT ` + columns + ` FROM resource_version v WHERE v.type = $1 AND NOT v.deleted`)
	if c.Snapshot > 0 {
		snap := arg(c.Snapshot)
		fmt.Fprintf(&b, " AND v.seq <= %s", snap)
		newer += " AND n.seq <= " + snap
	}
	b.WriteString(` AND NOT EXISTS (SELECT 1 FROM resource_version n WHERE n.type = v.type AND n.id = v.id AND ` + newer + `)`)
	for _, cl := range c.Clauses {
		b.WriteString(" AND ")
		b.WriteString(cl(arg))
	}
	order := " ORDER BY "
	for _, k := range c.Sort {
		order += k.Expr(arg)
		if k.Desc {
			order += " DESC"
		}
		order += " NULLS LAST, "
	}
	order += "v.id"
	switch {
	case len(c.Sort) > 0:
	case c.After != "":
		fmt.Fprintf(&b, " AND v.id > %s", arg(c.After))
	case c.Before != "":
		fmt.Fprintf(&b, " AND v.id < %s", arg(c.Before))
		order += " DESC"
	}
	b.WriteString(order)
	if c.Limit > 0 {
		fmt.Fprintf(&b, " LIMIT %d", c.Limit)
	}
	if c.Offset > 0 {
		fmt.Fprintf(&b, " OFFSET %d", c.Offset)
	}
	return b.String(), args
}

// Count returns how many current resources match, ignoring paging.
func (s *Store) Count(ctx context.Context, c Criteria) (int, error) {
	c.After, c.Before, c.Limit, c.Offset, c.Sort = "", "", 0, 0, nil
	inner, args := c.sql("1")
	var n int
	if err := s.pool.QueryRow(ctx, "SELECT count(*) FROM ("+strings.Replace(inner, " ORDER BY v.id", "", 1)+") AS matches", planned(args)...).Scan(&n); err != nil {
		return 0, fmt.Errorf("storage: count: %w", err)
	}
	return n, nil
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

// planned makes PostgreSQL plan a search for its actual values each time.
// A cached generic plan cannot know that this patient has a hundred
// observations while 'laboratory' has half a million, and may start from
// the wrong index; planning costs a few milliseconds, a bad plan seconds.
func planned(args []any) []any {
	return append([]any{pgx.QueryExecModeExec}, args...)
}
