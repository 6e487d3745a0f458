package main

import (
	"cmp"
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// schemaFloor is what PostgreSQL alone takes to write the rows the timed
// ingest wrote into the server's own tables: the same rows, in the order
// they arrived, into empty copies of those tables with the same indexes,
// from as many connections as the ingest had. No server, no HTTP, no
// parsing or validation: what is left is the cost of the schema (a
// resource's version row and its search index rows and their index
// entries), the floor under any ingest into it. COPY's floor is one row
// and one index entry a resource; this one says how much of the distance
// to it the schema itself puts there.
type schemaFloor struct {
	Tables  []schemaTable `json:"tables"`
	Rows    int64         `json:"rows"`
	Entries int64         `json:"index_entries"` // rows × indexes, partial ones counted whole
	Workers int           `json:"workers"`
	Seconds float64       `json:"seconds"`
}

type schemaTable struct {
	Name    string `json:"name"`
	Rows    int64  `json:"rows"`
	Indexes int    `json:"indexes"`
}

// xactMark is the next transaction id: rows written after it was read have
// a larger xmin. Read before the timed ingest, it tells its rows from the
// providers' and the warm-up's.
func xactMark(ctx context.Context, databaseURL string) (int64, error) {
	conn, err := pgx.Connect(ctx, databaseURL)
	if err != nil {
		return 0, err
	}
	defer conn.Close(ctx)
	var mark int64
	// The 32-bit xid a row's xmin holds; a benchmark's fresh cluster is
	// far from wrapping around.
	err = conn.QueryRow(ctx, `SELECT pg_current_xact_id()::text::bigint % 4294967296`).Scan(&mark)
	return mark, err
}

// schemaChunk is how many staged rows one transaction of the floor writes:
// about a bundle's worth of index rows.
const schemaChunk = 5000

// stagePrefix names the floor's scratch tables, which the floor never
// counts as the server's.
const stagePrefix = "fhirbench_"

// runSchemaFloor stages the rows written after mark (untimed), then times
// writing them into empty copies of their tables, chunks of every table in
// turn (as bundles write every table at once), with workers connections.
func runSchemaFloor(ctx context.Context, databaseURL string, mark int64, workers int) (*schemaFloor, error) {
	pool, err := openPool(ctx, floorConfig{databaseURL: databaseURL, workers: workers})
	if err != nil {
		return nil, err
	}
	defer pool.Close()
	tables, err := writtenTables(ctx, pool, mark)
	if err != nil {
		return nil, err
	}
	res := &schemaFloor{Workers: max(workers, 1)}
	defer dropScratch(ctx, pool, tables)
	var jobs []chunkJob
	var stages []*staged
	for _, t := range tables {
		st, err := stage(ctx, pool, t, mark)
		if err != nil {
			return nil, fmt.Errorf("schema floor: %s: %w", t, err)
		}
		stages = append(stages, st)
		res.Tables = append(res.Tables, st.schemaTable)
		res.Rows += st.Rows
		res.Entries += st.Rows * int64(st.Indexes)
		jobs = append(jobs, st.chunks()...)
	}
	if _, err := pool.Exec(ctx, "CHECKPOINT"); err != nil {
		return nil, err
	}
	start := time.Now()
	if err := writeChunks(ctx, pool, interleave(jobs), res.Workers); err != nil {
		return nil, fmt.Errorf("schema floor: %w", err)
	}
	res.Seconds = time.Since(start).Seconds()
	// A floor that wrote less than it claims would flatter the schema.
	for _, st := range stages {
		var n int64
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM `+st.target.Sanitize()).Scan(&n); err != nil {
			return nil, err
		}
		if n != st.Rows {
			return nil, fmt.Errorf("schema floor: %s got %d rows of %d", st.Name, n, st.Rows)
		}
	}
	return res, nil
}

// writtenTables are the ordinary tables of the public schema with rows
// written after mark, the floor's own excepted.
func writtenTables(ctx context.Context, pool *pgxpool.Pool, mark int64) ([]string, error) {
	rows, err := pool.Query(ctx, `SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = 'public' AND c.relkind = 'r' AND c.relname NOT LIKE $1 ORDER BY c.relname`, stagePrefix+"%")
	if err != nil {
		return nil, err
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}
	var out []string
	for _, name := range names {
		var written bool
		q := `SELECT EXISTS (SELECT 1 FROM ` + pgx.Identifier{name}.Sanitize() + ` WHERE xmin::text::bigint > $1)`
		if err := pool.QueryRow(ctx, q, mark).Scan(&written); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if written {
			out = append(out, name)
		}
	}
	return out, nil
}

// staged is one table's rows, numbered in their physical (arrival) order
// in an unlogged scratch table, and the empty copy they go to.
type staged struct {
	schemaTable
	stage, target pgx.Identifier
	columns       string // the copy's insertable columns, quoted
}

func stage(ctx context.Context, pool *pgxpool.Pool, table string, mark int64) (*staged, error) {
	src := pgx.Identifier{table}
	st := &staged{schemaTable: schemaTable{Name: table},
		stage: pgx.Identifier{stagePrefix + "stage_" + table}, target: pgx.Identifier{stagePrefix + "schema_" + table}}
	cols, err := insertableColumns(ctx, pool, table)
	if err != nil {
		return nil, err
	}
	st.columns = strings.Join(cols, ", ")
	for _, sql := range []string{
		`CREATE UNLOGGED TABLE ` + st.stage.Sanitize() + ` AS SELECT row_number() OVER () AS fhirbench_n, ` + st.columns +
			` FROM ` + src.Sanitize() + ` WHERE xmin::text::bigint > ` + fmt.Sprint(mark),
		// Each chunk reads its rows by number, not by a scan of the stage.
		`CREATE INDEX ON ` + st.stage.Sanitize() + ` (fhirbench_n)`,
		`ANALYZE ` + st.stage.Sanitize(),
		`CREATE TABLE ` + st.target.Sanitize() + ` (LIKE ` + src.Sanitize() + ` INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING INDEXES INCLUDING GENERATED INCLUDING IDENTITY)`,
	} {
		if _, err := pool.Exec(ctx, sql); err != nil {
			return nil, err
		}
	}
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM `+st.stage.Sanitize()).Scan(&st.Rows); err != nil {
		return nil, err
	}
	err = pool.QueryRow(ctx, `SELECT count(*) FROM pg_index WHERE indrelid = $1::regclass`, st.target.Sanitize()).Scan(&st.Indexes)
	return st, err
}

// insertableColumns are a table's columns an INSERT may set (generated
// ones are computed again by the copy).
func insertableColumns(ctx context.Context, pool *pgxpool.Pool, table string) ([]string, error) {
	rows, err := pool.Query(ctx, `SELECT column_name FROM information_schema.columns
		WHERE table_schema = 'public' AND table_name = $1 AND is_generated = 'NEVER' ORDER BY ordinal_position`, table)
	if err != nil {
		return nil, err
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	for i, n := range names {
		names[i] = pgx.Identifier{n}.Sanitize()
	}
	return names, err
}

// chunkJob is one transaction of the floor: rows (from, to] of a stage.
type chunkJob struct {
	sql      string
	from, to int64
}

func (st *staged) chunks() []chunkJob {
	sql := `INSERT INTO ` + st.target.Sanitize() + ` (` + st.columns + `) OVERRIDING SYSTEM VALUE SELECT ` + st.columns +
		` FROM ` + st.stage.Sanitize() + ` WHERE fhirbench_n > $1 AND fhirbench_n <= $2`
	var out []chunkJob
	for from := int64(0); from < st.Rows; from += schemaChunk {
		out = append(out, chunkJob{sql, from, min(from+schemaChunk, st.Rows)})
	}
	return out
}

// interleave orders the chunks first of every table, then second of every
// table and so on: every table grows at once, as under the ingest.
func interleave(jobs []chunkJob) []chunkJob {
	bySQL := map[string][]chunkJob{}
	var order []string
	for _, j := range jobs {
		if _, ok := bySQL[j.sql]; !ok {
			order = append(order, j.sql)
		}
		bySQL[j.sql] = append(bySQL[j.sql], j)
	}
	var out []chunkJob
	for i := 0; len(out) < len(jobs); i++ {
		for _, sql := range order {
			if i < len(bySQL[sql]) {
				out = append(out, bySQL[sql][i])
			}
		}
	}
	return out
}

func writeChunks(ctx context.Context, pool *pgxpool.Pool, jobs []chunkJob, workers int) error {
	var mu sync.Mutex
	var first error
	forEach(ctx, jobs, workers, func(j chunkJob) {
		_, err := pool.Exec(ctx, j.sql, j.from, j.to)
		if err != nil {
			mu.Lock()
			first = cmp.Or(first, err)
			mu.Unlock()
		}
	})
	return cmp.Or(first, ctx.Err())
}

// dropScratch removes the stages and copies, on a context of its own.
func dropScratch(ctx context.Context, pool *pgxpool.Pool, tables []string) {
	for _, t := range tables {
		dropTable(ctx, pool, pgx.Identifier{stagePrefix + "stage_" + t})
		dropTable(ctx, pool, pgx.Identifier{stagePrefix + "schema_" + t})
	}
}
