package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// searchKind is one search measured through the server and, beside it, as
// the best SQL we could write by hand against the server's own tables.
type searchKind struct {
	Name   string        `json:"name"`
	Server []levelResult `json:"server"`
	SQL    []levelResult `json:"sql,omitempty"`
	// Blocks is what a search of the kind read, all levels together, when
	// fhirbench may read the database's statistics (scale mode).
	Blocks *blockStats `json:"blocks,omitempty"`
}

// blockStats are the reads of a search, on average: PostgreSQL's buffer
// hits and the blocks it had to ask the OS for (pg_stat_database: the
// page cache's or the disk's), and the sectors the machine's disks read
// meanwhile (/proc/diskstats, in kB): where a search finds its pages as
// the data outgrows memory.
type blockStats struct {
	Searches int     `json:"searches"`
	Hit      float64 `json:"hit_per_search"`
	Read     float64 `json:"read_per_search"`
	DiskKB   float64 `json:"disk_kb_per_search"`
}

// blockCounters reads the database's buffer hits and reads and the disks'
// sectors read so far. PostgreSQL publishes a backend's counts within a
// second or so of its transactions: wait that long first.
func blockCounters(ctx context.Context, stats *pgxpool.Pool) (hit, read, diskKB int64, err error) {
	err = stats.QueryRow(ctx, `SELECT blks_hit, blks_read FROM pg_stat_database WHERE datname = current_database()`).Scan(&hit, &read)
	return hit, read, diskSectorsRead() / 2, err
}

// diskSectorsRead sums the sectors read by the whole disks (not their
// partitions) in /proc/diskstats; 0 where there is none.
func diskSectorsRead() int64 {
	data, err := os.ReadFile("/proc/diskstats")
	if err != nil {
		return 0
	}
	var total int64
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 6 || !wholeDisk.MatchString(f[2]) {
			continue
		}
		n, _ := strconv.ParseInt(f[5], 10, 64)
		total += n
	}
	return total
}

var wholeDisk = regexp.MustCompile(`^((s|v|xv)d[a-z]+|nvme[0-9]+n[0-9]+)$`)

// searchSample is what the searches are drawn from, read through the API.
type searchSample struct {
	obs      []obsSample
	families []string
	largest  string // the patient with the most observations among those sampled
}

type obsSample struct {
	patient, system, code, category, year string
}

// sampleData reads a thousand Observations and Patients (ids are random,
// so the first thousand by id are a random sample) and finds a large patient.
func sampleData(ctx context.Context, c *fhirClient) (*searchSample, error) {
	s := &searchSample{}
	var obs struct {
		Entry []struct {
			Resource struct {
				Subject struct{ Reference string }
				Code    struct {
					Coding []struct{ System, Code string }
				}
				Category []struct{ Coding []struct{ Code string } }
				Date     string `json:"effectiveDateTime"`
			}
		}
	}
	if err := getJSON(ctx, c, "/Observation?_count=1000", &obs); err != nil {
		return nil, err
	}
	count := map[string]int{}
	for _, e := range obs.Entry {
		r := e.Resource
		pid, ok := strings.CutPrefix(r.Subject.Reference, "Patient/")
		if !ok || len(r.Code.Coding) == 0 || len(r.Category) == 0 || len(r.Category[0].Coding) == 0 || len(r.Date) < 4 {
			continue
		}
		count[pid]++
		s.obs = append(s.obs, obsSample{pid, r.Code.Coding[0].System, r.Code.Coding[0].Code, r.Category[0].Coding[0].Code, r.Date[:4]})
	}
	var pats struct {
		Entry []struct {
			Resource struct{ Name []struct{ Family string } }
		}
	}
	if err := getJSON(ctx, c, "/Patient?_count=1000", &pats); err != nil {
		return nil, err
	}
	for _, e := range pats.Entry {
		if n := e.Resource.Name; len(n) > 0 && len([]rune(n[0].Family)) >= 3 {
			s.families = append(s.families, string([]rune(n[0].Family)[:3]))
		}
	}
	for pid, n := range count {
		if s.largest == "" || n > count[s.largest] {
			s.largest = pid
		}
	}
	if len(s.obs) == 0 || len(s.families) == 0 {
		return nil, fmt.Errorf("search sample: no usable Observations or Patients")
	}
	return s, nil
}

func getJSON(ctx context.Context, c *fhirClient, path string, v any) error {
	status, body, err := c.do(ctx, http.MethodGet, path, nil, true)
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return fmt.Errorf("GET %s: HTTP %d: %s", path, status, diagnostics(body))
	}
	return json.Unmarshal(body, v)
}

// query is one search: the FHIR path and the hand-written SQL with its
// arguments. A search is measured as a client makes it, one request for
// the first page (the SQL has the same LIMIT: the default 50, and one more
// to know that there is a next page); $everything, all pages of it against
// SQL that reads all of it.
type query struct {
	path string
	sql  string
	args []any
}

// current is the condition that version v is current and not deleted.
const current = `NOT v.deleted AND NOT EXISTS (SELECT 1 FROM resource_version n WHERE n.type = v.type AND n.id = v.id AND n.version > v.version)`

var searchKinds = []struct {
	name     string
	make     func(s *searchSample, rng *rand.Rand) query
	allPages bool // measured over all pages, fewer times (--everything-reads)
}{
	{"patient+code", func(s *searchSample, rng *rand.Rand) query {
		o := s.obs[rng.IntN(len(s.obs))]
		return query{
			path: "/Observation?patient=" + o.patient + "&code=" + url.QueryEscape(o.system+"|"+o.code),
			sql: `SELECT v.resource FROM search_reference r
				JOIN search_token t ON t.id = r.id AND t.version = r.version
				JOIN resource_version v ON v.type = r.type AND v.id = r.id AND v.version = r.version
				WHERE r.type = 'Observation' AND r.param = 'subject' AND r.target_type = 'Patient' AND r.target_id = $1
				AND t.pid = param_id('Observation', 'code') AND t.sid = text_id($2) AND t.code = $3 AND ` + current + ` ORDER BY v.id LIMIT 51`,
			args: []any{o.patient, o.system, o.code},
		}
	}, false},
	{"patient+category+date", func(s *searchSample, rng *rand.Rand) query {
		o := s.obs[rng.IntN(len(s.obs))]
		return query{
			path: "/Observation?patient=" + o.patient + "&category=" + o.category + "&date=ge" + o.year + "-01-01",
			sql: `SELECT v.resource FROM search_reference r
				JOIN resource_version v ON v.type = r.type AND v.id = r.id AND v.version = r.version
				WHERE r.type = 'Observation' AND r.param = 'subject' AND r.target_type = 'Patient' AND r.target_id = $1
				AND EXISTS (SELECT 1 FROM search_token t WHERE t.id = v.id AND t.version = v.version AND t.pid = param_id('Observation', 'category') AND t.code = $2)
				AND EXISTS (SELECT 1 FROM search_date d WHERE d.type = v.type AND d.id = v.id AND d.version = v.version AND d.param = 'date' AND d.hi > ($3 || '-01-01')::timestamptz)
				AND ` + current + ` ORDER BY v.id LIMIT 51`,
			args: []any{o.patient, o.category, o.year},
		}
	}, false},
	{"name prefix", func(s *searchSample, rng *rand.Rand) query {
		f := s.families[rng.IntN(len(s.families))]
		return query{
			path: "/Patient?name=" + url.QueryEscape(f),
			sql: `SELECT v.resource FROM resource_version v WHERE v.type = 'Patient'
				AND EXISTS (SELECT 1 FROM search_string s WHERE s.type = v.type AND s.id = v.id AND s.version = v.version AND s.param = 'name' AND s.value LIKE lower($1) || '%')
				AND ` + current + ` ORDER BY v.id LIMIT 51`,
			args: []any{f},
		}
	}, false},
	{"_include", func(s *searchSample, rng *rand.Rand) query {
		o := s.obs[rng.IntN(len(s.obs))]
		return query{
			path: "/Encounter?patient=" + o.patient + "&_include=Encounter:service-provider&_include=Encounter:participant",
			sql: `WITH m AS (SELECT v.type, v.id, v.version, v.resource FROM search_reference r
				  JOIN resource_version v ON v.type = r.type AND v.id = r.id AND v.version = r.version
				  WHERE r.type = 'Encounter' AND r.param = 'subject' AND r.target_type = 'Patient' AND r.target_id = $1 AND ` + current + ` ORDER BY v.id LIMIT 51)
				SELECT resource FROM m UNION ALL
				SELECT DISTINCT ON (v.type, v.id) v.resource FROM m JOIN search_reference x ON x.type = m.type AND x.id = m.id AND x.version = m.version
				  JOIN resource_version v ON v.type = x.target_type AND v.id = x.target_id
				  WHERE x.param IN ('service-provider', 'participant') AND ` + current,
			args: []any{o.patient},
		}
	}, false},
	{"$everything (largest patient)", func(s *searchSample, _ *rand.Rand) query {
		return query{
			path: "/Patient/" + s.largest + "/$everything?_count=1000",
			sql: `WITH m AS (SELECT v.type, v.id, v.version FROM search_reference r
				  JOIN resource_version v ON v.type = r.type AND v.id = r.id AND v.version = r.version
				  WHERE r.target_type = 'Patient' AND r.target_id = $1 AND ` + current + `
				  UNION SELECT v.type, v.id, v.version FROM resource_version v WHERE v.type = 'Patient' AND v.id = $1 AND ` + current + `)
				SELECT v.resource FROM m JOIN resource_version v USING (type, id, version)
				UNION ALL
				SELECT DISTINCT ON (v.type, v.id) v.resource FROM m JOIN search_reference x USING (type, id, version)
				  JOIN resource_version v ON v.type = x.target_type AND v.id = x.target_id WHERE ` + current,
			args: []any{s.largest},
		}
	}, true},
}

// searchWarmup is the unmeasured searches before each level: enough for
// every connection the highest level opens, on the client and in the
// server's pool, to have run each statement past PostgreSQL's five
// custom plans (after which it may settle on a generic one), so that no
// level measures that change; at most --warmup. Twenty, as it was, left
// most of sixteen connections cold.
func searchWarmup(cfg config) int {
	return min(cfg.warmup, 8*maxOf(cfg.searchLevels))
}

// runSearches measures every kind at every level, through the server and,
// with a pool, as SQL. With a sampler, each kind and level is a memory
// phase "search KIND[ tag] c=N".
//
// With stats (and no pool: the SQL side would read too), each kind's
// reads a search are counted (searchKind.Blocks).
func runSearches(ctx context.Context, c *fhirClient, pool, stats *pgxpool.Pool, s *searchSample, cfg config, warmup int, mem *rssSampler, tag string) []searchKind {
	var out []searchKind
	levels, n := cfg.searchLevels, cfg.searchReads
	for _, k := range searchKinds {
		if !selected(k.name, cfg.searchKinds) {
			continue
		}
		sk := searchKind{Name: k.name}
		n, warmup := n, warmup
		if k.allPages { // seconds each at scale
			n, warmup = cfg.everythingReads, min(warmup, 1)
		}
		draw := func(rng *rand.Rand) query { return k.make(s, rng) }
		var searches atomic.Int64
		server := func(ctx context.Context, q query) error {
			searches.Add(1)
			if k.allPages {
				return getAllPages(ctx, c, q.path)
			}
			return getPage(ctx, c, q.path)
		}
		label := "search " + k.name + tag
		count := stats != nil && pool == nil
		var hit0, read0, disk0 int64
		if count {
			time.Sleep(statsDelay)
			hit0, read0, disk0, _ = blockCounters(ctx, stats)
		}
		if pool == nil {
			sk.Server = measureLevels(ctx, levels, n, warmup, func(ctx context.Context, rng *rand.Rand) error { return server(ctx, draw(rng)) }, mem, label)
		} else {
			sk.Server, sk.SQL = measurePaired(ctx, levels, n, warmup, draw, server, func(ctx context.Context, q query) error { return runSQL(ctx, pool, q) }, mem, label)
		}
		if count {
			time.Sleep(statsDelay)
			hit, read, disk, err := blockCounters(ctx, stats)
			if n := float64(searches.Load()); err == nil && n > 0 {
				sk.Blocks = &blockStats{Searches: int(n), Hit: float64(hit-hit0) / n, Read: float64(read-read0) / n, DiskKB: float64(disk-disk0) / n}
			}
		}
		out = append(out, sk)
	}
	return out
}

// selected tells whether a kind is among those asked for (all when none are).
func selected(name string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(name, strings.TrimSpace(p)) {
			return true
		}
	}
	return len(prefixes) == 0
}

// getPage GETs one page of a search.
func getPage(ctx context.Context, c *fhirClient, path string) error {
	status, body, err := c.do(ctx, http.MethodGet, path, nil, true)
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return fmt.Errorf("GET %s: HTTP %d: %s", path, status, diagnostics(body))
	}
	return nil
}

// getAllPages follows next links to the end, as a client reading a whole
// result would.
func getAllPages(ctx context.Context, c *fhirClient, path string) error {
	for path != "" {
		status, body, err := c.do(ctx, http.MethodGet, path, nil, true)
		if err != nil {
			return err
		}
		if status != http.StatusOK {
			return fmt.Errorf("GET %s: HTTP %d: %s", path, status, diagnostics(body))
		}
		var b struct {
			Link []struct{ Relation, URL string }
		}
		if err := json.Unmarshal(body, &b); err != nil {
			return err
		}
		path = ""
		for _, l := range b.Link {
			if l.Relation == "next" {
				path = strings.TrimPrefix(l.URL, c.base)
			}
		}
	}
	return nil
}

// searchRows prints the search table.
func (r *report) searchRows(w io.Writer) {
	if len(r.Searches) == 0 {
		return
	}
	const row = "%-30s %5v %9v %9v %9v %9v %8v %7v\n"
	fmt.Fprintf(w, "\n"+row, "SEARCH", "conc", "p50 ms", "p99 ms", "sql p50", "sql p99", "p99 x", "errors")
	for _, k := range r.Searches {
		for i, l := range k.Server {
			sp50, sp99, x := "-", "-", "-"
			if i < len(k.SQL) {
				sp50, sp99 = fmt.Sprintf("%.3f", k.SQL[i].P50ms), fmt.Sprintf("%.3f", k.SQL[i].P99ms)
				x = fmt.Sprintf("%.2f", ratio(l.P99ms, k.SQL[i].P99ms))
			}
			fmt.Fprintf(w, row, k.Name, l.Concurrency, fmt.Sprintf("%.3f", l.P50ms), fmt.Sprintf("%.3f", l.P99ms), sp50, sp99, x, l.Errors)
		}
	}
	const brow = "%-30s %9v %12v %12v %12v\n"
	for i, k := range r.Searches {
		if k.Blocks == nil {
			continue
		}
		if i == 0 || r.Searches[i-1].Blocks == nil {
			fmt.Fprintf(w, "\n"+brow, "READS A SEARCH", "searches", "buffer hits", "from the OS", "disk kB")
		}
		b := k.Blocks
		fmt.Fprintf(w, brow, k.Name, b.Searches, fmt.Sprintf("%.1f", b.Hit), fmt.Sprintf("%.1f", b.Read), fmt.Sprintf("%.1f", b.DiskKB))
	}
}

// statsDelay is how long PostgreSQL may take to publish a backend's
// counts (it flushes them at most once a second).
const statsDelay = 1500 * time.Millisecond

// tableSize is the on-disk size of one of the server's tables, indexes and
// TOAST included.
type tableSize struct {
	Table string `json:"table"`
	Bytes int64  `json:"bytes"`
	Rows  int64  `json:"rows"`
}

// tableSizes reads the sizes of the version table and the search index
// tables (the server's schema: the floor side of the comparison).
func tableSizes(ctx context.Context, pool *pgxpool.Pool) ([]tableSize, error) {
	rows, err := pool.Query(ctx, `SELECT c.relname, pg_total_relation_size(c.oid), c.reltuples::bigint
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = 'public' AND c.relkind = 'r' AND (c.relname = 'resource_version' OR c.relname LIKE 'search\_%')
		ORDER BY c.relname`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []tableSize
	for rows.Next() {
		var t tableSize
		if err := rows.Scan(&t.Table, &t.Bytes, &t.Rows); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// sizeRows prints the table sizes, per million resources ingested.
func (r *report) sizeRows(w io.Writer) {
	if len(r.Sizes) == 0 {
		return
	}
	var resources int64
	for _, t := range r.Sizes {
		if t.Table == "resource_version" {
			resources = t.Rows
		}
	}
	fmt.Fprintf(w, "\n%-20s %12s %12s %16s\n", "TABLE", "rows", "MiB", "MiB per 1M res")
	for _, t := range r.Sizes {
		per := "-"
		if resources > 0 {
			per = fmt.Sprintf("%.0f", float64(t.Bytes)/(1<<20)*1e6/float64(resources))
		}
		fmt.Fprintf(w, "%-20s %12d %12.0f %16s\n", t.Table, t.Rows, float64(t.Bytes)/(1<<20), per)
	}
}

// runSQL runs the hand-written SQL and reads every row.
func runSQL(ctx context.Context, pool *pgxpool.Pool, q query) error {
	rows, err := pool.Query(ctx, q.sql, q.args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			return err
		}
	}
	return rows.Err()
}

// measurePaired measures the server and the SQL on the same queries: each
// iteration draws one and makes both, in a random order, so that neither
// side reads a cache the other has just warmed for it (measured one after
// the other, the second side found the first side's pages in memory).
func measurePaired(ctx context.Context, levels []int, n, warmup int, draw func(*rand.Rand) query, a, b func(context.Context, query) error, mem *rssSampler, label string) (ra, rb []levelResult) {
	for _, c := range levels {
		if ctx.Err() != nil {
			break
		}
		runPaired(ctx, c, warmup, draw, a, b)
		mem.phase(fmt.Sprintf("%s c=%d", label, c), func() {
			x, y := runPaired(ctx, c, n, draw, a, b)
			ra, rb = append(ra, x), append(rb, y)
		})
	}
	return ra, rb
}

func runPaired(ctx context.Context, conc, n int, draw func(*rand.Rand) query, a, b func(context.Context, query) error) (levelResult, levelResult) {
	sides := [2]func(context.Context, query) error{a, b}
	res := runSides(ctx, conc, n, 2, func(ctx context.Context, rng *rand.Rand, timed func(int, func() error)) {
		q, first := draw(rng), rng.IntN(2)
		for _, side := range []int{first, 1 - first} {
			timed(side, func() error { return sides[side](ctx, q) })
		}
	})
	return res[0], res[1]
}
