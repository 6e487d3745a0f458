package storage

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

// Clause is one condition of a search on the version row, written by the
// search package: it renders SQL that refers to the candidate version as v,
// and gets a placeholder for each value from arg.
type Clause func(arg func(any) string) string

// KeyClause is a condition on a version's key alone (type, id, version),
// which it finds under the alias it is given: usually v, the version row,
// and, in a led search, the lead's index row, so that it can be checked
// before the version row is read. Conditions on index tables are all of
// this kind.
type KeyClause func(arg func(any) string, v string) string

// Criteria selects current, non-deleted resources of one type: those
// matching every clause and filter, in id order.
type Criteria struct {
	Type    string
	Clauses []KeyClause
	// Filters may use any column of resource_version (v.last_updated).
	Filters []Clause
	// Lead, when set, is one more condition, the one the search starts
	// from. See Lead.
	Lead *Lead
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

// Lead is a condition met by a version's rows in one index table, whose
// rows come out of that table's index in id order: every column the index
// holds before id is fixed by an equality (a patient's observations, one
// system|code). A page of a search led by it reads that index in id order
// and stops once the page is full, instead of collecting every candidate
// and sorting them, however common the other parameters' values are.
type Lead struct {
	Table string    // search_reference, search_token, ...
	Cond  KeyClause // on the index row; it includes the parameter
	// ByValue marks a prefix of the table's value column (a name): its
	// index (text_pattern_ops) yields the rows in value order, not id
	// order, so a page reads them in (value, id) order, each resource at
	// its first matching value, and pages go by offset within their
	// snapshot, as a sorted search's do. Reading in id order would take
	// every resource of a common prefix and sort them: a cost that grows
	// with the number of patients.
	ByValue bool
}

// OffsetPaged tells whether the pages of the search go by offset (sorted,
// or led by value) rather than by the id of the last one seen.
func (c Criteria) OffsetPaged() bool {
	return len(c.Sort) > 0 || c.Lead != nil && c.Lead.ByValue
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
	vs, _, err := s.search(ctx, c, false, qualified("v"))
	return vs, err
}

// SearchSnapshot is Search for a search's first page (c.Snapshot zero):
// it also returns the newest seq, read by the same statement, which the
// following pages take as their snapshot; zero when nothing matched.
func (s *Store) SearchSnapshot(ctx context.Context, c Criteria) ([]Version, int64, error) {
	return s.search(ctx, c, c.Snapshot == 0, qualified("v"))
}

// SearchKeys is SearchSnapshot without the resources (Bodies reads
// them): a page's keys are all its audit record needs, and all it holds
// before its entries are written a chunk at a time.
func (s *Store) SearchKeys(ctx context.Context, c Criteria) ([]Version, int64, error) {
	return s.search(ctx, c, c.Snapshot == 0, keyColumns("v"))
}

func (s *Store) search(ctx context.Context, c Criteria, newest bool, columns string) ([]Version, int64, error) {
	if newest {
		columns += ", (SELECT coalesce(max(seq), 0) FROM resource_version)"
	}
	sql, args := c.sql(columns, true)
	// A led search starts from its lead's index whatever the values (its
	// checks are fenced in ledSQL and index-only through
	// search_token_check: TestLedSearchChecksACommonCodeByVersion), so it
	// is prepared once per connection and its plan kept: planning it cost
	// ten times its execution. An unled one is planned for its values: it
	// starts from whichever index they make cheapest.
	if c.Lead == nil {
		args = planned(args)
	}
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, 0, fmt.Errorf("storage: search: %w", err)
	}
	var snap int64
	var extra []any
	if newest {
		extra = []any{&snap}
	}
	vs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Version, error) { return scanVersion(r, extra...) })
	if err == nil {
		vs, err = s.cipher.opened(ctx, vs)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("storage: search: %w", err)
	}
	if c.Before != "" {
		slices.Reverse(vs) // fetched closest first; pages read in id order
	}
	return vs, snap, nil
}

func find(ctx context.Context, q querier, c Criteria) ([]string, error) {
	sql, args := c.sql("v.id", true)
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

// sql renders the search; without paging, it has no order or limit, for
// counting.
func (c Criteria) sql(columns string, paging bool) (string, []any) {
	args := []any{c.Type}
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if c.Lead != nil && len(c.Sort) == 0 {
		return c.ledSQL(columns, paging, arg), args
	}
	var b strings.Builder
	// A sorted search reads every match anyway: its lead is one more condition.
	b.WriteString(`SELECT ` + columns + ` FROM resource_version v WHERE v.type = $1`)
	if c.Lead != nil {
		typ := "l.type = v.type AND "
		if KeyedByParamID(c.Lead.Table) {
			typ = ""
		}
		b.WriteString(` AND EXISTS (SELECT 1 FROM ` + c.Lead.Table + ` l WHERE ` + typ + `l.id = v.id AND l.version = v.version AND ` + c.Lead.Cond(arg, "l") + `)`)
	}
	for _, cl := range c.Clauses {
		b.WriteString(" AND " + cl(arg, "v"))
	}
	c.writeCurrent(&b, arg)
	if !paging {
		return b.String(), args
	}
	order := " ORDER BY "
	for _, k := range c.Sort {
		order += k.Expr(arg)
		if k.Desc {
			order += " DESC"
		}
		order += " NULLS LAST, "
	}
	c.writePage(&b, order, "v.id", arg)
	return b.String(), args
}

// ledSQL reads the lead's index rows (alias l) in id order, checks the
// clauses on them, then joins the version rows of the candidates that pass,
// checks that they are current and filters them; a page stops the scan
// when it is full. Each clause is wrapped in IS TRUE so that it stays a
// filter checked per candidate on l, in order: as a plain EXISTS the
// planner may make it a join that reads all of the clause's rows and then
// sorts, losing the early stop. For a page, each is also its own scalar
// subquery: an EXISTS filter may otherwise run as a hash of all of its
// rows (every 'laboratory' observation), built before the first candidate
// because the planner does not count on the page stopping early; a count
// reads every candidate and may well want that hash.
func (c Criteria) ledSQL(columns string, paging bool, arg func(any) string) string {
	var b strings.Builder
	distinct, order := "l.id", "l.id"
	if paging && c.Lead.ByValue {
		distinct, order = "l.value, l.id", "l.value USING ~<~, l.id"
	}
	// The clauses and the join read the candidate's key as k: the lead's
	// row, or, for a table whose indexes hold no type (KeyedByParamID),
	// the row's id and version with the search's type, a subquery
	// PostgreSQL folds into the scan. Read from the row, the type would
	// cost a heap fetch for every index row the lead reads.
	from, k, typ := ` l`, "l", `l.type = $1 AND `
	if KeyedByParamID(c.Lead.Table) {
		from, k, typ = ` l CROSS JOIN LATERAL (SELECT $1::text AS type, l.id, l.version) k`, "k", ``
	}
	b.WriteString(`SELECT DISTINCT ON (` + distinct + `) ` + columns + ` FROM ` + c.Lead.Table + from +
		` JOIN resource_version v ON v.type = ` + k + `.type AND v.id = ` + k + `.id AND v.version = ` + k + `.version` +
		` WHERE ` + typ + c.Lead.Cond(arg, "l"))
	if paging && c.Lead.ByValue { // each resource at its first matching value only
		b.WriteString(` AND NOT EXISTS (SELECT 1 FROM ` + c.Lead.Table + ` y WHERE y.type = l.type AND y.id = l.id AND y.version = l.version AND ` +
			c.Lead.Cond(arg, "y") + ` AND y.value ~<~ l.value)`)
	}
	for _, cl := range c.Clauses {
		if paging {
			b.WriteString(" AND (SELECT " + cl(arg, k) + ") IS TRUE")
		} else {
			b.WriteString(" AND (" + cl(arg, k) + ") IS TRUE")
		}
	}
	c.writeCurrent(&b, arg)
	if !paging {
		return b.String()
	}
	c.writePage(&b, " ORDER BY ", order, arg)
	return b.String()
}

// KeyedByParamID tells whether a table's rows name their parameter by
// ParamID, which fixes the resource type, and its indexes hold no type
// (migration 039): the search package matches such rows by pid alone.
func KeyedByParamID(table string) bool { return table == "search_token" }

// writeCurrent keeps the current, non-deleted versions (as of the
// snapshot) that pass the filters.
func (c Criteria) writeCurrent(b *strings.Builder, arg func(any) string) {
	b.WriteString(" AND NOT v.deleted")
	newer := "n.version > v.version"
	if c.Snapshot > 0 {
		snap := arg(c.Snapshot)
		b.WriteString(" AND v.seq <= " + snap)
		newer += " AND n.seq <= " + snap
	}
	b.WriteString(` AND NOT EXISTS (SELECT 1 FROM resource_version n WHERE n.type = v.type AND n.id = v.id AND ` + newer + `)`)
	for _, f := range c.Filters {
		b.WriteString(" AND " + f(arg))
	}
}

// writePage bounds the ids by the cursor of an unsorted search and writes
// the order (after the sort keys already in order), the limit and offset.
func (c Criteria) writePage(b *strings.Builder, order, key string, arg func(any) string) {
	order += key
	switch {
	case c.OffsetPaged():
	case c.After != "":
		b.WriteString(" AND " + key + " > " + arg(c.After))
	case c.Before != "":
		b.WriteString(" AND " + key + " < " + arg(c.Before))
		order += " DESC"
	}
	b.WriteString(order)
	if c.Limit > 0 {
		fmt.Fprintf(b, " LIMIT %d", c.Limit)
	}
	if c.Offset > 0 {
		fmt.Fprintf(b, " OFFSET %d", c.Offset)
	}
}

// Count returns how many current resources match, ignoring paging.
func (s *Store) Count(ctx context.Context, c Criteria) (int, error) {
	c.Sort = nil
	inner, args := c.sql("v.id", false)
	var n int
	if err := s.pool.QueryRow(ctx, "SELECT count(*) FROM ("+inner+") AS matches", planned(args)...).Scan(&n); err != nil {
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
