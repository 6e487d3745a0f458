package storage_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirserver/fhirserver/storage"
	"github.com/fhirserver/fhirserver/storage/storagetest"
)

// ledObservations writes 300 Observations of patient p1 (and 100 of p2):
// codes a, b and c in turn; every seventh updated to code b, every
// eleventh deleted, every thirteenth referring to p1 twice, every
// seventeenth of p1's performed by p2 (in p2's compartment too).
func ledObservations(t *testing.T, s *storage.Store) int64 {
	ctx := context.Background()
	var rows []storage.Row
	row := func(id, patient, code string, version int64, twice bool) storage.Row {
		refs := []storage.ReferenceEntry{{Param: "patient", TargetType: ptr("Patient"), TargetID: ptr(patient)}}
		if twice {
			refs = append(refs, refs[0])
		}
		if n, _ := strconv.Atoi(id[1:]); patient == "p1" && n%17 == 0 {
			refs = append(refs, storage.ReferenceEntry{Param: "performer", TargetType: ptr("Patient"), TargetID: ptr("p2")})
		}
		return storage.Row{Key: storage.Key{Type: "Observation", ID: id}, Version: version, Method: "PUT",
			Resource: []byte(`{"resourceType":"Observation"}`),
			Index:    storage.Index{References: refs, Tokens: []storage.TokenEntry{{Param: "code", System: ptr("s"), Code: ptr(code)}}}}
	}
	for i := range 400 {
		patient := "p1"
		if i >= 300 {
			patient = "p2"
		}
		rows = append(rows, row(fmt.Sprintf("o%03d", i), patient, string(rune('a'+i%3)), 1, i%13 == 0))
	}
	require.NoError(t, s.InTx(ctx, func(tx *storage.Tx) error { return tx.Append(ctx, rows) }))
	var later []storage.Row
	for i := 0; i < 400; i += 7 {
		later = append(later, row(fmt.Sprintf("o%03d", i), "p1", "b", 2, false))
	}
	for i := 0; i < 400; i += 11 {
		later = append(later, storage.Row{Key: storage.Key{Type: "Observation", ID: fmt.Sprintf("o%03d", i)}, Version: 3, Method: "DELETE", Deleted: true})
	}
	require.NoError(t, s.InTx(ctx, func(tx *storage.Tx) error { return tx.Append(ctx, later) }))
	snap, err := s.Newest(ctx)
	require.NoError(t, err)
	return snap
}

func refCond(patient string) storage.KeyClause {
	return func(arg func(any) string, x string) string {
		return x + ".param = 'patient' AND " + x + ".target_type = 'Patient' AND " + x + ".target_id = " + arg(patient)
	}
}

func codeCond(code string) storage.KeyClause {
	return func(arg func(any) string, x string) string {
		return x + ".pid = " + arg(storage.ParamID("Observation", "code")) + " AND " + x + ".code = " + arg(code)
	}
}

// compartmentCond is a compartment lead (migration 034): patient's token
// rows of code.
func compartmentCond(patient, code string) storage.KeyClause {
	return func(arg func(any) string, x string) string {
		return x + ".patient = " + arg(patient) + " AND " + codeCond(code)(arg, x)
	}
}

// exists is the clause form of a lead condition.
// The token table's rows are found by their parameter's id, which fixes
// the type (migration 039).
func exists(table string, cond storage.KeyClause) storage.KeyClause {
	return func(arg func(any) string, v string) string {
		typ := "x.type = " + v + ".type AND "
		if table == "search_token" {
			typ = ""
		}
		return "EXISTS (SELECT 1 FROM " + table + " x WHERE " + typ + "x.id = " + v + ".id AND x.version = " + v + ".version AND " + cond(arg, "x") + ")"
	}
}

// A search led by one of its conditions finds, pages and counts exactly
// what the same search finds with that condition as a plain clause:
// current versions only, each once, forwards and backwards, with filters.
func TestLedSearchFindsWhatTheClauseFinds(t *testing.T) {
	t.Parallel()
	s, _ := storagetest.Open(t)
	ctx := context.Background()
	snap := ledObservations(t, s)
	recent := func(arg func(any) string) string { return "v.last_updated > " + arg(time.Now().Add(-time.Hour)) }
	cases := map[string]storage.Criteria{
		"patient":                 {Lead: &storage.Lead{Table: "search_reference", Cond: refCond("p1")}},
		"patient+code":            {Lead: &storage.Lead{Table: "search_reference", Cond: refCond("p1")}, Clauses: []storage.KeyClause{exists("search_token", codeCond("b"))}},
		"code+patient+filter":     {Lead: &storage.Lead{Table: "search_token", Cond: codeCond("a")}, Clauses: []storage.KeyClause{exists("search_reference", refCond("p1"))}, Filters: []storage.Clause{recent}},
		"nothing":                 {Lead: &storage.Lead{Table: "search_reference", Cond: refCond("nobody")}},
		"compartment":             {Lead: &storage.Lead{Table: "search_token", Cond: compartmentCond("p1", "b")}, Clauses: []storage.KeyClause{exists("search_reference", refCond("p1"))}},
		"performer's compartment": {Lead: &storage.Lead{Table: "search_token", Cond: compartmentCond("p2", "a")}, Clauses: []storage.KeyClause{exists("search_reference", refCond("p2"))}},
	}
	for name, led := range cases {
		t.Run(name, func(t *testing.T) {
			led.Type, led.Snapshot = "Observation", snap
			plain := led
			plain.Lead, plain.Clauses = nil, append([]storage.KeyClause{exists(led.Lead.Table, led.Lead.Cond)}, led.Clauses...)
			want := pages(t, s, plain)
			assert.Equal(t, want, pages(t, s, led))
			n, err := s.Count(ctx, led)
			require.NoError(t, err)
			assert.Len(t, want, n)
			// Backwards from the end, the closest first.
			if len(want) > 0 {
				before := led
				before.Before, before.Limit = "o999", 7
				got, err := s.Search(ctx, before)
				require.NoError(t, err)
				assert.Equal(t, want[max(0, len(want)-7):], ids(got))
			}
			// A sorted search treats the lead as a condition.
			sorted := led
			sorted.Sort = []storage.Sort{{Expr: func(func(any) string) string { return "v.id" }, Desc: true}}
			got, err := s.Search(ctx, sorted)
			require.NoError(t, err)
			assert.Len(t, got, len(want))
		})
	}
	assert.NotEmpty(t, pages(t, s, cases["patient+code"]), "the fixture has matches")
	// p2's compartment holds p1's observations that p2 performed: the
	// lead alone finds them, the patient clause keeps them out.
	alone := cases["performer's compartment"]
	alone.Type, alone.Snapshot, alone.Clauses = "Observation", snap, nil
	assert.Greater(t, len(pages(t, s, alone)), len(pages(t, s, cases["performer's compartment"])))
}

// A page of a patient's code reads that patient's rows of the code and no
// others: not the patient's other observations (checked one by one
// before migration 034), not the code's rows of other patients.
func TestCompartmentSearchReadsOnlyMatchingRows(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	conn, snap := plannedStore(t, "VACUUM (ANALYZE) search_token, search_reference, resource_version")
	c := storage.Criteria{Type: "Observation", Snapshot: snap, Limit: 11,
		Lead: &storage.Lead{Table: "search_token", Cond: compartmentCond("p2", "a")}, Clauses: []storage.KeyClause{exists("search_reference", refCond("p2"))}}
	sql, args := storage.SearchSQL(c)
	_, err := conn.Exec(ctx, "PREPARE led AS "+sql)
	require.NoError(t, err)
	for _, mode := range []string{"force_custom_plan", "force_generic_plan"} {
		t.Run(mode, func(t *testing.T) {
			_, err := conn.Exec(ctx, "SET plan_cache_mode = "+mode)
			require.NoError(t, err)
			var raw string
			require.NoError(t, conn.QueryRow(ctx, "EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE led("+literals(args)+")").Scan(&raw))
			var plan []struct{ Plan node }
			require.NoError(t, json.Unmarshal([]byte(raw), &plan))
			scan := plan[0].Plan.find("search_token")
			require.NotNil(t, scan, raw)
			assert.Equal(t, "search_token_patient", scan.Index, raw)
			// The index holds no type (migration 039): the search's own
			// stands in for it, or every row would be read from the heap.
			assert.Equal(t, "Index Only Scan", scan.NodeType, raw)
			// p2's 100 observations hold 34 of code a, and p1's performed
			// by p2 six more: a page of 11 reads about 11 of them.
			assert.Less(t, scan.ActualRows, 20.0, raw)
			assert.Nil(t, plan[0].Plan.find("Sort"), "the index gives the order")
		})
	}
}

// pages reads every page of 10 forwards.
func pages(t *testing.T, s *storage.Store, c storage.Criteria) []string {
	t.Helper()
	c.Type, c.Limit = "Observation", 10
	var out []string
	for {
		got, err := s.Search(context.Background(), c)
		require.NoError(t, err)
		out = append(out, ids(got)...)
		if len(got) < c.Limit {
			return out
		}
		c.After = got[len(got)-1].ID
	}
}

func ids(vs []storage.Version) []string {
	out := []string{}
	for _, v := range vs {
		out = append(out, v.ID)
	}
	return out
}

// otherObservations writes 20,000 observations of other patients, so that
// the tables have the proportions of a real store, where reading all of
// them is not an option: codes a, b and c in turn, and a distinct
// identifier each, which makes codes many, as they are (a generic plan
// then takes any code for rare).
func otherObservations(t *testing.T, s *storage.Store) {
	ctx := context.Background()
	var others []storage.Row
	for i := range 20000 {
		others = append(others, storage.Row{Key: storage.Key{Type: "Observation", ID: fmt.Sprintf("x%05d", i)}, Version: 1, Method: "PUT",
			Resource: []byte(`{"resourceType":"Observation"}`), Index: storage.Index{
				References: []storage.ReferenceEntry{{Param: "patient", TargetType: ptr("Patient"), TargetID: ptr(fmt.Sprintf("q%d", i/50))}},
				Tokens: []storage.TokenEntry{{Param: "code", System: ptr("s"), Code: ptr(string(rune('a' + i%3)))},
					{Param: "identifier", System: ptr("s"), Code: ptr(fmt.Sprintf("id%05d", i))}}}})
	}
	require.NoError(t, s.InTx(ctx, func(tx *storage.Tx) error { return tx.Append(ctx, others) }))
}

// plannedStore is a store of a real one's proportions (other patients'
// observations and the led ones), its statistics made by maintenance, and
// a connection of its owner for EXPLAIN; it returns the snapshot.
func plannedStore(t *testing.T, maintenance string) (*pgx.Conn, int64) {
	s, owner := storagetest.Open(t)
	ctx := context.Background()
	otherObservations(t, s)
	snap := ledObservations(t, s)
	conn, err := pgx.Connect(ctx, owner)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close(ctx) })
	_, err = conn.Exec(ctx, maintenance)
	require.NoError(t, err)
	return conn, snap
}

// A page of a led search stops reading the lead's index once it is full:
// a patient's 300 observations are not all read for a page of ten.
func TestLedSearchStopsWhenThePageIsFull(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	conn, snap := plannedStore(t, "ANALYZE")
	c := storage.Criteria{Type: "Observation", Snapshot: snap, Limit: 11,
		Lead: &storage.Lead{Table: "search_reference", Cond: refCond("p1")}, Clauses: []storage.KeyClause{exists("search_token", codeCond("a"))}}
	sql, args := storage.SearchSQL(c)
	var raw string
	require.NoError(t, conn.QueryRow(ctx, "EXPLAIN (ANALYZE, FORMAT JSON) "+sql, args...).Scan(&raw))
	var plan []struct{ Plan node }
	require.NoError(t, json.Unmarshal([]byte(raw), &plan))
	scan := plan[0].Plan.find("search_reference")
	require.NotNil(t, scan, raw)
	assert.Less(t, scan.ActualRows, 60.0, "index rows read for a page of 11 codes 'a' (a third of them)")
	assert.Nil(t, plan[0].Plan.find("Sort"), "the lead's index gives the order")
}

type node struct {
	NodeType   string  `json:"Node Type"`
	Relation   string  `json:"Relation Name"`
	Index      string  `json:"Index Name"`
	ActualRows float64 `json:"Actual Rows"`
	Plans      []node
}

// find returns the first node that scans relation or has that type.
func (n *node) find(what string) *node {
	if n.Relation == what || n.NodeType == what {
		return n
	}
	for i := range n.Plans {
		if f := n.Plans[i].find(what); f != nil {
			return f
		}
	}
	return nil
}

// A first page reads its snapshot, the newest seq, in the same statement.
func TestSearchSnapshotReadsTheNewestSeq(t *testing.T) {
	t.Parallel()
	s, _ := storagetest.Open(t)
	ctx := context.Background()
	newest := ledObservations(t, s)
	for _, lead := range []*storage.Lead{nil, {Table: "search_reference", Cond: refCond("p1")}} {
		got, snap, err := s.SearchSnapshot(ctx, storage.Criteria{Type: "Observation", Lead: lead, Limit: 3})
		require.NoError(t, err)
		assert.Len(t, got, 3)
		assert.Equal(t, newest, snap)
		_, snap, err = s.SearchSnapshot(ctx, storage.Criteria{Type: "Observation", Lead: lead, Limit: 3, Snapshot: 5})
		require.NoError(t, err)
		assert.Zero(t, snap, "a following page has its snapshot already")
	}
	got, snap, err := s.SearchSnapshot(ctx, storage.Criteria{Type: "Observation", Lead: &storage.Lead{Table: "search_reference", Cond: refCond("nobody")}})
	require.NoError(t, err)
	assert.Empty(t, got)
	assert.Zero(t, snap, "nothing matched: no pages follow")
}

// A candidate's token check finds that version's rows of the parameter
// directly, whether or not the planner knows the code: a code without a
// system, common enough to be a third of the table, was checked by a
// generic plan through a range scan of search_token_code, the whole range
// of the code for every candidate, once VACUUM made that index-only; and
// by a custom plan through a hash of every row of the code, built before
// the first candidate, however few a page needs.
func TestLedSearchChecksACommonCodeByVersion(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	conn, snap := plannedStore(t, "VACUUM (ANALYZE) search_token, search_reference, resource_version")
	c := storage.Criteria{Type: "Observation", Snapshot: snap, Limit: 11,
		Lead: &storage.Lead{Table: "search_reference", Cond: refCond("p1")}, Clauses: []storage.KeyClause{exists("search_token", func(arg func(any) string, x string) string {
			return x + ".pid = " + arg(storage.ParamID("Observation", "code")) + " AND " + x + ".code = " + arg("a")
		})}}
	sql, args := storage.SearchSQL(c)
	_, err := conn.Exec(ctx, "PREPARE led AS "+sql)
	require.NoError(t, err)
	for _, mode := range []string{"force_custom_plan", "force_generic_plan"} {
		t.Run(mode, func(t *testing.T) {
			_, err := conn.Exec(ctx, "SET plan_cache_mode = "+mode)
			require.NoError(t, err)
			var raw string
			require.NoError(t, conn.QueryRow(ctx, "EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE led("+literals(args)+")").Scan(&raw))
			var plan []struct{ Plan node }
			require.NoError(t, json.Unmarshal([]byte(raw), &plan))
			check := plan[0].Plan.find("search_token")
			require.NotNil(t, check, raw)
			assert.Equal(t, "search_token_check", check.Index, "the check reads the candidate's rows: %s", raw)
			assert.Equal(t, "Index Only Scan", check.NodeType, raw)
		})
	}
}

// literals writes a statement's arguments as SQL, for EXECUTE.
func literals(args []any) string {
	out := make([]string, len(args))
	for i, a := range args {
		switch a := a.(type) {
		case string:
			out[i] = "'" + strings.ReplaceAll(a, "'", "''") + "'"
		default:
			out[i] = fmt.Sprint(a)
		}
	}
	return strings.Join(out, ", ")
}

// A led search is prepared once per connection and keeps its plan: after
// PostgreSQL's five custom plans it runs a generic one instead of
// planning each time (planning cost ten times its execution). An unled
// search is never prepared: it is planned for its values every time.
func TestLedSearchKeepsItsPlan(t *testing.T) {
	t.Parallel()
	s, _ := storagetest.OpenWith(t, storage.Options{MaxConns: 1}) // one session: its prepared statements are the search's
	ctx := context.Background()
	ledObservations(t, s)
	plans := func() (generic, custom int64) {
		t.Helper()
		require.NoError(t, s.Querier().QueryRow(ctx, `SELECT coalesce(sum(generic_plans), 0), coalesce(sum(custom_plans), 0)
			FROM pg_prepared_statements WHERE statement LIKE '%DISTINCT ON (l.id)%'`).Scan(&generic, &custom))
		return generic, custom
	}
	for i := range 12 {
		patient := []string{"p1", "p2"}[i%2]
		_, _, err := s.SearchSnapshot(ctx, storage.Criteria{Type: "Observation", Limit: 10,
			Lead: &storage.Lead{Table: "search_reference", Cond: refCond(patient)}, Clauses: []storage.KeyClause{exists("search_token", codeCond("a"))}})
		require.NoError(t, err)
	}
	generic, custom := plans()
	assert.Equal(t, int64(5), custom, "five custom plans first")
	assert.GreaterOrEqual(t, generic, int64(7), "then the kept plan")

	for range 6 {
		_, _, err := s.SearchSnapshot(ctx, storage.Criteria{Type: "Observation", Limit: 10, Clauses: []storage.KeyClause{exists("search_token", codeCond("a"))}})
		require.NoError(t, err)
	}
	var unled int
	require.NoError(t, s.Querier().QueryRow(ctx, `SELECT count(*) FROM pg_prepared_statements WHERE statement NOT LIKE '%DISTINCT ON (l.id)%'
		AND statement LIKE '%FROM resource_version v%search_token%'`).Scan(&unled))
	assert.Zero(t, unled, "an unled search is planned for its values each time")
}

// namedPatients writes n Patients named smith<i> (every fifth also given
// smitty<i>, every third given the same family twice), then renames
// every seventh to jones and deletes every eleventh.
func namedPatients(t *testing.T, s *storage.Store, n int) {
	ctx := context.Background()
	patient := func(i int, version int64, names ...string) storage.Row {
		var ix storage.Index
		for _, name := range names {
			ix.Strings = append(ix.Strings, storage.StringEntry{Param: "name", Value: name, Exact: name})
		}
		return storage.Row{Key: storage.Key{Type: "Patient", ID: fmt.Sprintf("n%05d", i)}, Version: version, Method: "PUT",
			Resource: []byte(`{"resourceType":"Patient"}`), Index: ix}
	}
	var rows, later []storage.Row
	for i := range n {
		names := []string{fmt.Sprintf("smith%d", (i*7919)%n)} // values out of id order
		if i%5 == 0 {
			names = append(names, fmt.Sprintf("smitty%d", i))
		}
		if i%3 == 0 {
			names = append(names, names[0])
		}
		rows = append(rows, patient(i, 1, names...))
		if i%7 == 0 {
			later = append(later, patient(i, 2, "jones"))
		}
		if i%11 == 0 {
			later = append(later, storage.Row{Key: storage.Key{Type: "Patient", ID: fmt.Sprintf("n%05d", i)}, Version: 3, Method: "DELETE", Deleted: true})
		}
	}
	require.NoError(t, s.InTx(ctx, func(tx *storage.Tx) error { return tx.Append(ctx, rows) }))
	require.NoError(t, s.InTx(ctx, func(tx *storage.Tx) error { return tx.Append(ctx, later) }))
}

func prefixCond(prefix string) storage.KeyClause {
	return func(arg func(any) string, x string) string {
		return x + ".param = 'name' AND " + x + ".value LIKE " + arg(prefix+"%")
	}
}

// A search led by a name prefix reads the value index in its order and
// pages by offset: every current match once, at its first matching
// value, whatever number of names match.
func TestALeadByValueFindsEachMatchOnce(t *testing.T) {
	t.Parallel()
	s, _ := storagetest.Open(t)
	ctx := context.Background()
	namedPatients(t, s, 200)
	snap, err := s.Newest(ctx)
	require.NoError(t, err)
	for _, prefix := range []string{"smi", "smitty", "smith1", "jo", "nobody"} {
		t.Run(prefix, func(t *testing.T) {
			led := storage.Criteria{Type: "Patient", Snapshot: snap, Lead: &storage.Lead{Table: "search_string", Cond: prefixCond(prefix), ByValue: true}}
			plain := storage.Criteria{Type: "Patient", Snapshot: snap, Clauses: []storage.KeyClause{exists("search_string", prefixCond(prefix))}}
			want, err := s.Find(ctx, plain)
			require.NoError(t, err)
			var got []string
			for led.Offset, led.Limit = 0, 7; ; led.Offset += 7 {
				page, err := s.Search(ctx, led)
				require.NoError(t, err)
				got = append(got, ids(page)...)
				if len(page) < 7 {
					break
				}
			}
			assert.ElementsMatch(t, want, got)
			n, err := s.Count(ctx, led)
			require.NoError(t, err)
			assert.Equal(t, len(want), n)
		})
	}
}

// A page of a name prefix reads about a page of the value index, not
// every name with the prefix.
func TestALeadByValueStopsWhenThePageIsFull(t *testing.T) {
	t.Parallel()
	s, owner := storagetest.Open(t)
	ctx := context.Background()
	namedPatients(t, s, 5000)
	conn, err := pgx.Connect(ctx, owner)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close(ctx) })
	_, err = conn.Exec(ctx, "VACUUM (ANALYZE) search_string, resource_version")
	require.NoError(t, err)
	snap, err := s.Newest(ctx)
	require.NoError(t, err)
	// As the search package writes a prefix lead: a byte range a kept
	// (generic) plan can read without knowing the value, and the LIKE.
	ranged := func(arg func(any) string, x string) string {
		return x + ".param = 'name' AND " + x + ".value ~>=~ " + arg("smi") + " AND " + x + ".value ~<~ " + arg("smj") +
			" AND " + x + ".value LIKE " + arg("smi%")
	}
	sql, args := storage.SearchSQL(storage.Criteria{Type: "Patient", Snapshot: snap, Limit: 11,
		Lead: &storage.Lead{Table: "search_string", Cond: ranged, ByValue: true}})
	_, err = conn.Exec(ctx, "PREPARE led AS "+sql)
	require.NoError(t, err)
	for _, mode := range []string{"force_custom_plan", "force_generic_plan"} {
		t.Run(mode, func(t *testing.T) {
			_, err := conn.Exec(ctx, "SET plan_cache_mode = "+mode)
			require.NoError(t, err)
			var raw string
			require.NoError(t, conn.QueryRow(ctx, "EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE led("+literals(args)+")").Scan(&raw))
			var plan []struct{ Plan node }
			require.NoError(t, json.Unmarshal([]byte(raw), &plan))
			scan := plan[0].Plan.find("search_string")
			require.NotNil(t, scan, raw)
			assert.Equal(t, "search_string_value", scan.Index, raw)
			assert.Less(t, scan.ActualRows, 60.0, "index rows read for a page of 11 of 5,000 matches: %s", raw)
			assert.Nil(t, plan[0].Plan.find("Sort"), "the index gives the order: %s", raw)
		})
	}
}

// A candidate's date check reads that version's date rows from the index
// alone, as the token check does: no heap read per candidate, which at
// scale is a random read each.
func TestLedSearchChecksADateFromTheIndex(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, owner := storagetest.Open(t)
	var rows []storage.Row
	for i := range 300 {
		rows = append(rows, storage.Row{Key: storage.Key{Type: "Observation", ID: fmt.Sprintf("d%03d", i)}, Version: 1, Method: "PUT",
			Resource: []byte(`{"resourceType":"Observation"}`), Index: storage.Index{
				References: []storage.ReferenceEntry{{Param: "patient", TargetType: ptr("Patient"), TargetID: ptr("p1")}},
				Dates:      []storage.DateEntry{{Param: "date", Lo: time.Date(2000+i%30, 1, 1, 0, 0, 0, 0, time.UTC), Hi: time.Date(2000+i%30, 1, 2, 0, 0, 0, 0, time.UTC)}}}})
	}
	require.NoError(t, s.InTx(ctx, func(tx *storage.Tx) error { return tx.Append(ctx, rows) }))
	conn, err := pgx.Connect(ctx, owner)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close(ctx) })
	_, err = conn.Exec(ctx, "VACUUM (ANALYZE) search_date, search_reference, resource_version")
	require.NoError(t, err)
	sql, args := storage.SearchSQL(storage.Criteria{Type: "Observation", Limit: 11,
		Lead: &storage.Lead{Table: "search_reference", Cond: refCond("p1")}, Clauses: []storage.KeyClause{exists("search_date", func(arg func(any) string, x string) string {
			return x + ".param = 'date' AND " + x + ".hi > " + arg(time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC))
		})}})
	var raw string
	require.NoError(t, conn.QueryRow(ctx, "EXPLAIN (ANALYZE, FORMAT JSON) "+sql, args...).Scan(&raw))
	var plan []struct{ Plan node }
	require.NoError(t, json.Unmarshal([]byte(raw), &plan))
	check := plan[0].Plan.find("search_date")
	require.NotNil(t, check, raw)
	assert.Equal(t, "search_date_check", check.Index, raw)
	assert.Equal(t, "Index Only Scan", check.NodeType, raw)
}
