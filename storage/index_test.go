package storage_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirserver/fhirserver/storage"
	"github.com/fhirserver/fhirserver/storage/storagetest"
)

func ptr(s string) *string { return &s }

// fullIndex has entries in every index table (two tokens).
func fullIndex() (storage.Index, time.Time) {
	lo := time.Date(2020, 1, 2, 3, 4, 5, 600000000, time.UTC)
	return storage.Index{
		Strings: []storage.StringEntry{{Param: "name", Value: "zoe", Exact: "Zoë"}},
		Tokens: []storage.TokenEntry{{Param: "code", System: ptr("http://loinc.org"), Code: ptr("8867-4"), Text: ptr("hr")}, {Param: "status", Code: ptr("final")},
			{Param: "identifier", System: ptr(`urn:x\y`), Code: ptr("a\tb\\N\n"), Text: ptr("tab\tnew\nline\rreturn\\ slash \\N é")}},
		References: []storage.ReferenceEntry{{Param: "subject", TargetType: ptr("Patient"), TargetID: ptr("p1")}},
		Dates:      []storage.DateEntry{{Param: "date", Lo: lo, Hi: lo.Add(time.Second)}},
		Numbers:    []storage.NumberEntry{{Param: "n", Value: "1.50"}},
		Quantities: []storage.QuantityEntry{{Param: "value-quantity", Value: "72.5", Unit: ptr("/min")}},
		URIs:       []storage.URIEntry{{Param: "_profile", Value: "http://x/p"}},
		Composites: []storage.CompositeEntry{{Param: "code-value-quantity", C1System: ptr("http://loinc.org"), C1Code: ptr("8480-6"), C2Value: ptr("120"), C2Lo: &lo}},
	}, lo
}

// Index rows go in with their version, by INSERT for a few rows and after
// the COPY for many, and every column arrives as written.
func TestAppendWritesTheSearchIndex(t *testing.T) {
	t.Parallel()
	s, ownerURL := storagetest.Open(t)
	ctx := context.Background()
	index, lo := fullIndex()
	for _, n := range []int{1, 40} { // below and above the COPY threshold
		rows := make([]storage.Row, n)
		for i := range rows {
			rows[i] = storage.Row{Key: storage.Key{Type: "Observation", ID: fmt.Sprintf("o%d-%d", n, i)}, Version: 1, Method: "PUT", Resource: []byte(`{}`), Index: index}
		}
		require.NoError(t, s.InTx(ctx, func(tx *storage.Tx) error { return tx.Append(ctx, rows) }))
	}
	owner, err := pgx.Connect(ctx, ownerURL)
	require.NoError(t, err)
	defer owner.Close(ctx)
	counts := map[string]int{"search_string": 1, "search_token": 3, "search_reference": 1, "search_date": 1, "search_number": 1, "search_quantity": 1, "search_uri": 1, "search_composite": 1}
	for table, per := range counts {
		var n int
		require.NoError(t, owner.QueryRow(ctx, "SELECT count(*) FROM "+table).Scan(&n))
		assert.Equal(t, 41*per, n, table)
	}
	for table := range counts { // the COPY writes what the INSERT does
		var inserted, copied []string
		for id, into := range map[string]*[]string{"o1-0": &inserted, "o40-39": &copied} {
			rows, err := owner.Query(ctx, `SELECT (to_jsonb(x) - 'id')::text FROM `+table+` x WHERE id = $1 ORDER BY 1`, id)
			require.NoError(t, err)
			*into, err = pgx.CollectRows(rows, pgx.RowTo[string])
			require.NoError(t, err)
		}
		assert.Equal(t, inserted, copied, table)
	}
	var tricky string
	require.NoError(t, owner.QueryRow(ctx, `SELECT text FROM search_token WHERE id = 'o40-39' AND param = 'identifier'`).Scan(&tricky))
	assert.Equal(t, "tab\tnew\nline\rreturn\\ slash \\N é", tricky)
	var code, system, text string
	require.NoError(t, owner.QueryRow(ctx, `SELECT code, system, text FROM search_token WHERE id = 'o40-39' AND param = 'code'`).Scan(&code, &system, &text))
	assert.Equal(t, []string{"8867-4", "http://loinc.org", "hr"}, []string{code, system, text})
	var gotLo, gotHi time.Time
	require.NoError(t, owner.QueryRow(ctx, `SELECT lo, hi FROM search_date WHERE id = 'o1-0'`).Scan(&gotLo, &gotHi))
	assert.True(t, lo.Equal(gotLo), "%v", gotLo)
	assert.True(t, lo.Add(time.Second).Equal(gotHi), "%v", gotHi)
	var value string
	require.NoError(t, owner.QueryRow(ctx, `SELECT value::text FROM search_number WHERE id = 'o1-0'`).Scan(&value))
	assert.Equal(t, "1.50", value, "numeric keeps the precision written")
	var wrong int
	require.NoError(t, owner.QueryRow(ctx, `SELECT count(*) FROM search_token WHERE pid <> param_id(type, param) OR sid IS DISTINCT FROM text_id(system)`).Scan(&wrong))
	assert.Zero(t, wrong, "every token row, inserted or copied, names its parameter by param_id and its system by text_id")
}

// The server and SQL give a parameter and a code system the same id
// (migrations 039 and 040): the migrations number the rows written before
// them with param_id() and text_id(), and searches look them up by
// storage.ParamID and storage.SystemID.
func TestParamIDIsSQLs(t *testing.T) {
	t.Parallel()
	_, ownerURL := storagetest.Open(t)
	ctx := context.Background()
	owner, err := pgx.Connect(ctx, ownerURL)
	require.NoError(t, err)
	defer owner.Close(ctx)
	for _, tt := range [][2]string{
		{"Observation", "code"}, {"Observation", "code"}, {"Patient", "identifier"}, {"Observation", "subject:identifier"},
		{"Condition", "clinical-status"}, {"X", "é:日本"}, {"", ""},
	} {
		var sql int64
		require.NoError(t, owner.QueryRow(ctx, `SELECT param_id($1, $2)`, tt[0], tt[1]).Scan(&sql))
		assert.Equal(t, sql, storage.ParamID(tt[0], tt[1]), "%q", tt)
	}
	assert.NotEqual(t, storage.ParamID("Observation", "code"), storage.ParamID("Condition", "code"), "the type is part of the id")
	long := strings.Repeat("http://example.org/", 60)
	for _, system := range []string{"http://loinc.org", "urn:oid:2.16.840.1.113883.6.238", "é", long} {
		var sql int64
		require.NoError(t, owner.QueryRow(ctx, `SELECT text_id($1)`, storage.IndexKey(system)).Scan(&sql))
		assert.Equal(t, sql, storage.SystemID(system), "%.40q", system)
	}
}
