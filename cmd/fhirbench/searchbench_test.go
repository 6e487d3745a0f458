package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// searchFake answers the searches of the search test: fixed Observations
// and Patients, and a two-page $everything.
func searchFake(t *testing.T) (*httptest.Server, *[]string) {
	var paths []string
	var mu sync.Mutex
	record := func(r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		paths = append(paths, r.URL.String())
	}
	obs := map[string]any{"resourceType": "Observation", "id": "o1", "subject": map[string]any{"reference": "Patient/p1"},
		"code":     map[string]any{"coding": []any{map[string]any{"system": "http://loinc.org", "code": "8867-4"}}},
		"category": []any{map[string]any{"coding": []any{map[string]any{"code": "vital-signs"}}}}, "effectiveDateTime": "2020-01-01"}
	pat := map[string]any{"resourceType": "Patient", "id": "p1", "name": []any{map[string]any{"family": "Smith"}}}
	bundle := func(next string, rs ...any) map[string]any {
		var entries []any
		for _, r := range rs {
			entries = append(entries, map[string]any{"resource": r})
		}
		b := map[string]any{"resourceType": "Bundle", "type": "searchset", "entry": entries}
		if next != "" {
			b["link"] = []any{map[string]any{"relation": "next", "url": next}}
		}
		return b
	}
	mux := http.NewServeMux()
	var srv *httptest.Server
	mux.HandleFunc("GET /fhir/{type}", func(w http.ResponseWriter, r *http.Request) {
		record(r)
		if r.PathValue("type") == "Patient" {
			writeJSON(w, 200, bundle("", pat))
			return
		}
		writeJSON(w, 200, bundle("", obs))
	})
	mux.HandleFunc("GET /fhir/Patient/{id}/{op}", func(w http.ResponseWriter, r *http.Request) {
		record(r)
		if r.URL.Query().Get("_cursor") == "" {
			writeJSON(w, 200, bundle(srv.URL+"/fhir/Patient/p1/$everything?_cursor=x", pat))
			return
		}
		writeJSON(w, 200, bundle("", obs))
	})
	srv = httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, &paths
}

// searchClient is a client of the search fake, with a token, and the
// sample drawn through it.
func searchClient(t *testing.T) (*fhirClient, *searchSample, *[]string) {
	t.Helper()
	srv, paths := searchFake(t)
	ts := &tokenSource{now: time.Now}
	ts.current.Store(&token{value: "t"})
	c := &fhirClient{base: srv.URL + "/fhir", http: newHTTPClient(10*time.Second, 4), tokens: ts}
	s, err := sampleData(context.Background(), c)
	require.NoError(t, err)
	return c, s, paths
}

func TestSearchPhaseAgainstAFakeServer(t *testing.T) {
	c, s, paths := searchClient(t)
	ctx := context.Background()
	assert.Equal(t, "p1", s.largest)
	assert.Equal(t, []string{"Smi"}, s.families)
	assert.Equal(t, []obsSample{{"p1", "http://loinc.org", "8867-4", "vital-signs", "2020"}}, s.obs)

	kinds := runSearches(ctx, c, nil, nil, s, config{searchLevels: []int{1, 2}, searchReads: 5, everythingReads: 3}, 1, nil, "")
	require.Len(t, kinds, len(searchKinds))
	for _, k := range kinds {
		require.Len(t, k.Server, 2, k.Name)
		for _, l := range k.Server {
			assert.Zero(t, l.Errors, "%s: %v", k.Name, l.errs.first)
			if strings.HasPrefix(k.Name, "$everything") {
				assert.Equal(t, 3, l.Requests, "--everything-reads")
			} else {
				assert.Equal(t, 5, l.Requests)
			}
		}
		assert.Empty(t, k.SQL, "no database URL, no SQL")
	}
	joined := strings.Join(*paths, "\n")
	for _, want := range []string{"/fhir/Observation?patient=p1&code=http%3A%2F%2Floinc.org%7C8867-4", "category=vital-signs&date=ge2020-01-01",
		"/fhir/Patient?name=Smi", "_include=Encounter:service-provider", "/fhir/Patient/p1/$everything?_count=1000", "_cursor=x"} {
		assert.Contains(t, joined, want)
	}
	var out strings.Builder
	(&report{Searches: kinds}).searchRows(&out)
	assert.Contains(t, out.String(), "$everything (largest patient)")

	*paths = nil
	some := runSearches(ctx, c, nil, nil, s, config{searchLevels: []int{1}, searchReads: 2, everythingReads: 1, searchKinds: []string{"name", "$every"}}, 0, nil, "")
	require.Len(t, some, 2, "--search-kinds picks kinds by the start of their names")
	assert.Equal(t, "name prefix", some[0].Name)
	assert.Equal(t, "$everything (largest patient)", some[1].Name)
}

func TestSizeRowsPerMillion(t *testing.T) {
	var out strings.Builder
	(&report{Sizes: []tableSize{{"resource_version", 2 << 30, 2_000_000}, {"search_token", 1 << 30, 9_000_000}}}).searchRows(&out)
	assert.Empty(t, out.String(), "no searches, no search table")
	(&report{Sizes: []tableSize{{"resource_version", 2 << 30, 2_000_000}, {"search_token", 1 << 30, 9_000_000}}}).sizeRows(&out)
	assert.Regexp(t, `resource_version\s+2000000\s+2048\s+1024`, out.String())
	assert.Regexp(t, `search_token\s+9000000\s+1024\s+512`, out.String())
}

// Paired measurement makes both sides on the same queries, in both orders.
func TestRunPairedMakesBothSidesOnTheSameQueries(t *testing.T) {
	var mu sync.Mutex
	var order []string
	seen := map[string][2]int{}
	side := func(name string, i int, fail bool) func(context.Context, query) error {
		return func(_ context.Context, q query) error {
			mu.Lock()
			defer mu.Unlock()
			order = append(order, name)
			c := seen[q.path]
			c[i]++
			seen[q.path] = c
			if fail {
				return fmt.Errorf("no")
			}
			return nil
		}
	}
	draw := func(rng *rand.Rand) query { return query{path: fmt.Sprint(rng.Int64())} }
	a, b := runPaired(context.Background(), 1, 200, draw, side("a", 0, false), side("b", 1, true))
	assert.Equal(t, 200, a.Requests)
	assert.Zero(t, a.Errors)
	assert.Equal(t, 200, b.Errors, "errors are counted on their side")
	for path, c := range seen {
		assert.Equal(t, [2]int{1, 1}, c, path)
	}
	firsts := map[string]int{}
	for i := 0; i < len(order); i += 2 {
		firsts[order[i]]++
	}
	assert.Positive(t, firsts["a"], "a went first sometimes")
	assert.Positive(t, firsts["b"], "b went first sometimes")
}

// With the database's statistics, each kind reports its reads a search:
// here a database the fake server never touches, so its blocks are
// whatever else ran, but every search is counted.
func TestSearchPhaseCountsReadsWithStats(t *testing.T) {
	dbURL := testDatabaseURL(t)
	c, s, _ := searchClient(t)
	ctx := context.Background()
	stats, err := pgxpool.New(ctx, dbURL)
	require.NoError(t, err)
	defer stats.Close()
	kinds := runSearches(ctx, c, nil, stats, s, config{searchLevels: []int{1, 2}, searchReads: 3, everythingReads: 1, searchKinds: []string{"name", "$every"}}, 1, nil, "")
	require.Len(t, kinds, 2)
	for _, k := range kinds {
		require.NotNil(t, k.Blocks, k.Name)
		want := 2 * (3 + 1) // two levels of three, each after a warm-up of one
		if strings.HasPrefix(k.Name, "$everything") {
			want = 2 * (1 + 1)
		}
		assert.Equal(t, want, k.Blocks.Searches, k.Name)
		assert.GreaterOrEqual(t, k.Blocks.Hit, 0.0)
	}
	var out strings.Builder
	(&report{Searches: kinds}).searchRows(&out)
	assert.Contains(t, out.String(), "READS A SEARCH")
	assert.Equal(t, 1, strings.Count(out.String(), "READS A SEARCH"), "one table")
}

func TestWholeDiskNames(t *testing.T) {
	for name, want := range map[string]bool{"vda": true, "sda": true, "xvdb": true, "nvme0n1": true,
		"vda1": false, "sda2": false, "nvme0n1p1": false, "loop0": false, "dm-0": false} {
		assert.Equal(t, want, wholeDisk.MatchString(name), name)
	}
}

func TestSearchWarmupCoversEveryConnectionOfTheHighestLevel(t *testing.T) {
	for _, tc := range []struct {
		warmup int
		levels []int
		want   int
	}{
		{200, []int{1, 16}, 128},
		{200, []int{1, 32}, 200},
		{20, []int{1, 16}, 20},
		{0, []int{1, 16}, 0},
		{200, []int{1}, 8},
	} {
		got := searchWarmup(config{warmup: tc.warmup, searchLevels: tc.levels})
		assert.Equal(t, tc.want, got, "warmup %d, levels %v", tc.warmup, tc.levels)
	}
}
