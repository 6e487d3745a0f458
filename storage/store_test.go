package storage_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirserver/fhirserver/storage"
	"github.com/fhirserver/fhirserver/storage/storagetest"
)

func appendVersion(t *testing.T, s *storage.Store, k storage.Key, version int64, deleted bool) {
	t.Helper()
	body := fmt.Sprintf(`{"resourceType":%q,"id":%q,"meta":{"versionId":"%d"}}`, k.Type, k.ID, version)
	sys, id := "urn:s", k.ID
	row := storage.Row{Key: k, Version: version, Method: "PUT", Resource: []byte(body),
		Index: storage.Index{Tokens: []storage.TokenEntry{{Param: "identifier", System: &sys, Code: &id}}}}
	if deleted {
		row.Method, row.Deleted, row.Resource, row.Index = "DELETE", true, nil, storage.Index{}
	}
	require.NoError(t, s.InTx(context.Background(), func(tx *storage.Tx) error {
		return tx.Append(context.Background(), []storage.Row{row})
	}))
}

func TestReadReturnsCurrentVersionAndTombstones(t *testing.T) {
	t.Parallel()
	s, _ := storagetest.Open(t)
	ctx := context.Background()
	k := storage.Key{Type: "Patient", ID: "p1"}

	_, err := s.Read(ctx, k)
	assert.ErrorIs(t, err, storage.ErrNotFound)

	for v := int64(1); v <= 3; v++ {
		appendVersion(t, s, k, v, false)
	}
	got, err := s.Read(ctx, k)
	require.NoError(t, err)
	assert.Equal(t, int64(3), got.Version)
	assert.JSONEq(t, `{"resourceType":"Patient","id":"p1","meta":{"versionId":"3"}}`, string(got.Resource))

	old, err := s.VRead(ctx, k, 2)
	require.NoError(t, err)
	assert.Equal(t, int64(2), old.Version)

	appendVersion(t, s, k, 4, true)
	_, err = s.Read(ctx, k)
	assert.ErrorIs(t, err, storage.ErrGone)
	_, err = s.VRead(ctx, k, 4)
	assert.ErrorIs(t, err, storage.ErrGone)
	_, err = s.VRead(ctx, k, 9)
	assert.ErrorIs(t, err, storage.ErrNotFound)
}

func TestSameVersionTwiceConflicts(t *testing.T) {
	t.Parallel()
	s, _ := storagetest.Open(t)
	k := storage.Key{Type: "Patient", ID: "p1"}
	appendVersion(t, s, k, 1, false)
	calls := 0
	err := s.InTx(context.Background(), func(tx *storage.Tx) error {
		calls++
		return tx.Append(context.Background(), []storage.Row{{Key: k, Version: 1, Method: "PUT", Resource: []byte(`{}`)}})
	})
	assert.ErrorIs(t, err, storage.ErrBusy, "a version written twice is retried, then reported busy")
	assert.Greater(t, calls, 1)
}

func TestFindMatchesCurrentVersionsOnly(t *testing.T) {
	t.Parallel()
	s, _ := storagetest.Open(t)
	ctx := context.Background()
	appendVersion(t, s, storage.Key{Type: "Patient", ID: "a"}, 1, false)
	appendVersion(t, s, storage.Key{Type: "Patient", ID: "b"}, 1, false)
	appendVersion(t, s, storage.Key{Type: "Patient", ID: "b"}, 2, true)
	byIdentifier := func(arg func(any) string, v string) string {
		return "EXISTS (SELECT 1 FROM search_token x WHERE x.type = " + v + ".type AND x.id = " + v + ".id AND x.version = " + v + ".version AND x.code = ANY(" + arg([]string{"a", "b"}) + "))"
	}
	ids, err := s.Find(ctx, storage.Criteria{Type: "Patient", Clauses: []storage.KeyClause{byIdentifier}})
	require.NoError(t, err)
	assert.Equal(t, []string{"a"}, ids, "b's current version is a tombstone")
	ids, err = s.Find(ctx, storage.Criteria{Type: "Patient"})
	require.NoError(t, err)
	assert.Equal(t, []string{"a"}, ids)

	// a snapshot taken before b's deletion still sees b
	appendVersion(t, s, storage.Key{Type: "Patient", ID: "c"}, 1, false)
	snap, err := s.Newest(ctx)
	require.NoError(t, err)
	appendVersion(t, s, storage.Key{Type: "Patient", ID: "a"}, 2, true)
	appendVersion(t, s, storage.Key{Type: "Patient", ID: "d"}, 1, false)
	ids, err = s.Find(ctx, storage.Criteria{Type: "Patient", Snapshot: snap})
	require.NoError(t, err)
	assert.Equal(t, []string{"a", "c"}, ids, "as of the snapshot: a not yet deleted, d not yet there")
	ids, err = s.Find(ctx, storage.Criteria{Type: "Patient"})
	require.NoError(t, err)
	assert.Equal(t, []string{"c", "d"}, ids)
}

// The database itself refuses to change history: the application role lacks
// the privileges, and the triggers stop even the owner.
func TestDatabaseRefusesChangesToAppendOnlyTables(t *testing.T) {
	t.Parallel()
	s, ownerURL := storagetest.Open(t)
	ctx := context.Background()
	appendVersion(t, s, storage.Key{Type: "Patient", ID: "p1"}, 1, false)
	index, _ := fullIndex() // row triggers fire only where there are rows
	require.NoError(t, s.InTx(ctx, func(tx *storage.Tx) error {
		return tx.Append(ctx, []storage.Row{{Key: storage.Key{Type: "Observation", ID: "o"}, Version: 1, Method: "PUT", Resource: []byte(`{}`), Index: index}})
	}))
	_, err := s.LogInbound(ctx, "batch", "test", []byte("{}"))
	require.NoError(t, err)

	statements := map[string][]string{
		"resource_version": {"UPDATE resource_version SET deleted = false", "DELETE FROM resource_version", "TRUNCATE resource_version CASCADE"},
		"inbound_log":      {"UPDATE inbound_log SET sender = 'x'", "DELETE FROM inbound_log", "TRUNCATE inbound_log CASCADE"},
	}
	for _, table := range []string{"search_string", "search_token", "search_reference", "search_date", "search_number", "search_quantity", "search_uri", "search_composite"} {
		statements[table] = []string{"UPDATE " + table + " SET param = 'x'", "DELETE FROM " + table, "TRUNCATE " + table}
	}
	owner, err := pgx.Connect(ctx, ownerURL)
	require.NoError(t, err)
	defer owner.Close(ctx)

	for table, stmts := range statements {
		for _, stmt := range stmts {
			t.Run(table+"/owner/"+strings.Fields(stmt)[0], func(t *testing.T) {
				_, err := owner.Exec(ctx, stmt)
				require.Error(t, err)
				assert.Contains(t, err.Error(), "append-only")
			})
			t.Run(table+"/fhir_app/"+strings.Fields(stmt)[0], func(t *testing.T) {
				tx, err := owner.Begin(ctx)
				require.NoError(t, err)
				defer tx.Rollback(ctx)
				_, err = tx.Exec(ctx, "SET LOCAL ROLE fhir_app")
				require.NoError(t, err)
				_, err = tx.Exec(ctx, stmt)
				require.Error(t, err)
				assert.Contains(t, err.Error(), "permission denied")
			})
		}
	}
	var n int
	require.NoError(t, owner.QueryRow(ctx, "SELECT count(*) FROM resource_version").Scan(&n))
	assert.Equal(t, 2, n)
}

func TestConcurrentWritersOfOneResourceNeverLoseAVersion(t *testing.T) {
	t.Parallel()
	s, _ := storagetest.Open(t)
	ctx := context.Background()
	k := storage.Key{Type: "Patient", ID: "p"}
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := s.InTx(ctx, func(tx *storage.Tx) error {
				h, err := tx.Heads(ctx, []storage.Key{k})
				if err != nil {
					return err
				}
				return tx.Append(ctx, []storage.Row{{Key: k, Version: h[k].Version + 1, Method: "PUT", Resource: []byte(`{}`)}})
			})
			if err != nil && !errors.Is(err, storage.ErrBusy) {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	v, err := s.Read(ctx, k)
	require.NoError(t, err)
	hist, err := s.History(ctx, storage.HistoryQuery{Type: "Patient", ID: "p", Limit: 100})
	require.NoError(t, err)
	assert.Equal(t, int(v.Version), len(hist), "versions are contiguous")
}

// Small appends go in as INSERTs, large ones by COPY; both write the same
// rows, tombstones and identifiers included, and both collide on the
// primary key when a version is written twice.
func TestAppendBySizeWritesTheSame(t *testing.T) {
	t.Parallel()
	s, _ := storagetest.Open(t)
	ctx := context.Background()
	for _, n := range []int{3, 100} {
		var rows []storage.Row
		for i := range n {
			k := storage.Key{Type: "Observation", ID: fmt.Sprintf("n%d-%d", n, i)}
			id := k.ID
			row := storage.Row{Key: k, Version: 1, Method: "POST",
				Resource: []byte(fmt.Sprintf(`{"resourceType":"Observation","id":%q,"valueQuantity":{"value":1.50}}`, k.ID)),
				Index:    storage.Index{Tokens: []storage.TokenEntry{{Param: "identifier", Code: &id}}}}
			if i%10 == 9 {
				row.Method, row.Deleted, row.Resource, row.Index = "DELETE", true, nil, storage.Index{}
			}
			rows = append(rows, row)
		}
		require.NoError(t, s.InTx(ctx, func(tx *storage.Tx) error { return tx.Append(ctx, rows) }), "n=%d", n)

		for i, row := range rows {
			got, err := s.Read(ctx, row.Key)
			if row.Deleted {
				assert.ErrorIs(t, err, storage.ErrGone, "n=%d row %d", n, i)
				continue
			}
			require.NoError(t, err, "n=%d row %d", n, i)
			assert.JSONEq(t, string(row.Resource), string(got.Resource))
			assert.Contains(t, string(got.Resource), "1.50", "decimal precision survives")
		}
		value := rows[0].ID
		byCode := func(arg func(any) string, v string) string {
			return "EXISTS (SELECT 1 FROM search_token x WHERE x.type = " + v + ".type AND x.id = " + v + ".id AND x.version = " + v + ".version AND x.code = " + arg(value) + ")"
		}
		ids, err := s.Find(ctx, storage.Criteria{Type: "Observation", Clauses: []storage.KeyClause{byCode}})
		require.NoError(t, err)
		assert.Equal(t, []string{value}, ids, "index rows were written, n=%d", n)

		err = s.InTx(ctx, func(tx *storage.Tx) error { return tx.Append(ctx, rows) })
		assert.ErrorIs(t, err, storage.ErrBusy, "writing the same versions again collides, n=%d", n)
	}
}
