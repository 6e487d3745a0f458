package storage_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirserver/fhirserver/storage"
	"github.com/fhirserver/fhirserver/storage/storagetest"
)

// Reading the current version stays one index descent, however long the
// history: the plan reads the primary key backwards and stops at one row.
func TestReadingTheCurrentVersionIsAnIndexLookup(t *testing.T) {
	t.Parallel()
	s, owner := storagetest.Open(t)
	ctx := context.Background()
	k := storage.Key{Type: "Patient", ID: "long"}
	const versions = 2000
	require.NoError(t, s.InTx(ctx, func(tx *storage.Tx) error {
		rows := make([]storage.Row, versions)
		for v := range rows {
			rows[v] = storage.Row{Key: k, Version: int64(v + 1), Method: "PUT", Resource: []byte(`{"resourceType":"Patient"}`)}
		}
		return tx.Append(ctx, rows)
	}))
	conn, err := pgx.Connect(ctx, owner)
	require.NoError(t, err)
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "ANALYZE resource_version")
	require.NoError(t, err)

	var plan []struct{ Plan map[string]any }
	var raw string
	require.NoError(t, conn.QueryRow(ctx, "EXPLAIN (ANALYZE, FORMAT JSON) "+storage.ReadCurrentSQL, k.Type, k.ID).Scan(&raw))
	require.NoError(t, json.Unmarshal([]byte(raw), &plan))
	text := fmt.Sprint(plan)
	assert.Contains(t, text, "Index Scan")
	assert.Contains(t, text, "Backward")
	assert.NotContains(t, text, "Seq Scan")
	assert.NotContains(t, strings.ToLower(text), "sort")
	scan := plan[0].Plan["Plans"].([]any)[0].(map[string]any)
	assert.Equal(t, float64(1), scan["Actual Rows"], "one row read of %d versions", versions)
}

// A reference row has one index by its target, which every reader by
// target uses: a search by reference (rows in id order, no sort), the
// patient compartment of $everything (in type and id order), and a reader
// that knows the id but not the target's type (migration 037).
func TestEveryReaderByTargetUsesTheOneTargetIndex(t *testing.T) {
	t.Parallel()
	s, owner := storagetest.Open(t)
	ctx := context.Background()
	require.NoError(t, s.InTx(ctx, func(tx *storage.Tx) error {
		var rows []storage.Row
		for i := range 50 {
			p, o := fmt.Sprintf("p%d", i), fmt.Sprintf("o%d", i)
			rows = append(rows,
				storage.Row{Key: storage.Key{Type: "Patient", ID: p}, Version: 1, Method: "PUT", Resource: []byte(`{"resourceType":"Patient"}`)},
				storage.Row{Key: storage.Key{Type: "Observation", ID: o}, Version: 1, Method: "PUT", Resource: []byte(`{"resourceType":"Observation"}`),
					Index: storage.Index{References: []storage.ReferenceEntry{
						{Param: "subject", TargetType: ptr("Patient"), TargetID: ptr(p)},
						{Param: "patient", TargetType: ptr("Patient"), TargetID: ptr(p)},
					}}})
		}
		return tx.Append(ctx, rows)
	}))
	conn, err := pgx.Connect(ctx, owner)
	require.NoError(t, err)
	defer conn.Close(ctx)
	var indexes []string
	rows, err := conn.Query(ctx, `SELECT indexname FROM pg_indexes WHERE tablename = 'search_reference' ORDER BY 1`)
	require.NoError(t, err)
	indexes, err = pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	assert.Equal(t, []string{"search_reference_probe", "search_reference_target", "search_reference_url"}, indexes)

	// The tables are tiny: without this the planner reads them whole.
	_, err = conn.Exec(ctx, "ANALYZE search_reference; SET enable_seqscan = off; SET enable_bitmapscan = off")
	require.NoError(t, err)
	for _, tt := range []struct{ name, sql string }{
		{"search by reference", `SELECT id, version FROM search_reference WHERE type = 'Observation' AND param = 'subject' AND target_id = 'p7' AND target_type = 'Patient' ORDER BY id, version`},
		{"compartment", `SELECT type, id, version FROM search_reference WHERE target_type = 'Patient' AND target_id = 'p7' ORDER BY type, id, version`},
		{"reverse chain", `SELECT 1 FROM search_reference WHERE type = 'Observation' AND param = ANY('{subject,patient}') AND target_type = 'Patient' AND target_id = 'p7'`},
		{"type unknown", `SELECT id FROM search_reference WHERE type = 'Observation' AND param = 'subject' AND target_id = 'p7'`},
	} {
		var raw string
		require.NoError(t, conn.QueryRow(ctx, "EXPLAIN (FORMAT JSON) "+tt.sql).Scan(&raw), tt.name)
		assert.Contains(t, raw, `"Index Name": "search_reference_target"`, tt.name)
		assert.NotContains(t, raw, `"Sort"`, tt.name)
		assert.Contains(t, raw, `"Index Only Scan"`, tt.name)
	}
}
