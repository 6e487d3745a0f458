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
