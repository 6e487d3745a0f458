package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/url"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The schema floor writes again exactly the rows written after the mark,
// into copies with the same indexes, and leaves nothing behind.
func TestSchemaFloorWritesTheRowsAfterTheMark(t *testing.T) {
	ctx := context.Background()
	dbURL := scratchDatabase(t, testDatabaseURL(t))
	conn, err := pgx.Connect(ctx, dbURL)
	require.NoError(t, err)
	defer conn.Close(ctx)
	for _, sql := range []string{
		`CREATE TABLE version (seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, id text NOT NULL, body text, len int GENERATED ALWAYS AS (length(body)) STORED)`,
		`CREATE INDEX version_id ON version (id)`,
		`CREATE TABLE token (id text, code text)`,
		`CREATE INDEX token_code ON token (code, id)`,
		`CREATE INDEX token_some ON token (id) WHERE code = 'x'`,
		`CREATE TABLE before_only (n int)`,
		`INSERT INTO version (id, body) SELECT 'warm' || g, 'b' FROM generate_series(1, 7) g`,
		`INSERT INTO token SELECT 'warm' || g, 'c' FROM generate_series(1, 3) g`,
		`INSERT INTO before_only VALUES (1)`,
	} {
		_, err := conn.Exec(ctx, sql)
		require.NoError(t, err, sql)
	}
	mark, err := xactMark(ctx, dbURL)
	require.NoError(t, err)
	for range 2 { // two transactions, as two bundles
		_, err := conn.Exec(ctx, `INSERT INTO version (id, body) SELECT 'r' || g, repeat('x', g) FROM generate_series(1, 6000) g`)
		require.NoError(t, err)
		_, err = conn.Exec(ctx, `INSERT INTO token SELECT 'r' || g, 'x' FROM generate_series(1, 2000) g`)
		require.NoError(t, err)
	}

	res, err := runSchemaFloor(ctx, dbURL, mark, 3)
	require.NoError(t, err)
	assert.Equal(t, []schemaTable{{"token", 4000, 2}, {"version", 12000, 2}}, res.Tables, "before_only and the warm-up rows are not the timed ingest's")
	assert.Equal(t, int64(16000), res.Rows)
	assert.Equal(t, int64(4000*2+12000*2), res.Entries)
	assert.Equal(t, 3, res.Workers)
	assert.Positive(t, res.Seconds)

	var left int
	require.NoError(t, conn.QueryRow(ctx, `SELECT count(*) FROM pg_class WHERE relname LIKE 'fhirbench\_%'`).Scan(&left))
	assert.Zero(t, left, "the stages and copies are dropped")
}

// The chunks of every table come in turn, as bundles write every table.
func TestInterleaveTakesEveryTableInTurn(t *testing.T) {
	a := []chunkJob{{"a", 0, 1}, {"a", 1, 2}, {"a", 2, 3}}
	b := []chunkJob{{"b", 0, 1}}
	assert.Equal(t, []chunkJob{a[0], b[0], a[1], a[2]}, interleave(append(a, b...)))
}

// scratchDatabase creates a database of its own for a test on the server
// at base, dropped at the end: the schema floor reads every table.
func scratchDatabase(t *testing.T, base string) string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	require.NoError(t, err)
	name := fmt.Sprintf("fhirbench_test_%d", rand.Uint64())
	_, err = conn.Exec(ctx, "CREATE DATABASE "+name)
	require.NoError(t, err)
	t.Cleanup(func() {
		_, _ = conn.Exec(ctx, "DROP DATABASE "+name+" WITH (FORCE)")
		_ = conn.Close(ctx)
	})
	if !strings.Contains(base, "://") { // keyword/value form: a later key wins
		return base + " dbname=" + name
	}
	u, err := url.Parse(base)
	require.NoError(t, err)
	u.Path = "/" + name
	return u.String()
}
