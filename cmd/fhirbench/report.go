package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"
)

// The project's goals, as ratios to the PostgreSQL floor.
const (
	ingestGoal = 3.0 // floor resources/s at most 3x the server's (issue 2)
	readGoal   = 2.0 // server p99 at most 2x the floor's
	// Issue 18 goal 4: the server's ingest time at most 6x the COPY's of
	// the same rows (validation and audit on).
	ingestTimeGoal = 6.0
)

// report is every number of a run; it is printed and written as JSON.
type report struct {
	Tool              string         `json:"tool"`
	Mode              string         `json:"mode"` // full, ingest-only, search-only or scale
	Started           time.Time      `json:"started"`
	Base              string         `json:"base_url"`
	Fixtures          []string       `json:"fixtures"`
	Copies            int            `json:"copies"`
	WarmupCopies      int            `json:"warmup_copies"`
	IngestConcurrency int            `json:"ingest_concurrency"`
	ReadsPerLevel     int            `json:"reads_per_level"`
	Runtime           runtimeInfo    `json:"runtime"`
	ProviderBundles   int            `json:"provider_bundles"`
	Bundles           int            `json:"bundles"`
	Ingest            *ingestResult  `json:"ingest,omitempty"`
	Reads             []levelResult  `json:"reads"`
	TokenFetches      int64          `json:"token_fetches"`
	HTTPNoop          []levelResult  `json:"http_noop"` // the loopback HTTP hop alone
	Floor             *floorResult   `json:"floor,omitempty"`
	SchemaFloor       *schemaFloor   `json:"schema_floor,omitempty"`
	Searches          []searchKind   `json:"searches,omitempty"`
	Sizes             []tableSize    `json:"table_sizes,omitempty"`
	Scale             *scaleResult   `json:"scale,omitempty"`
	ServerMemory      *memReport     `json:"server_memory,omitempty"`
	Ratios            *ratioSummary  `json:"ratios,omitempty"`
	Medplum           *medplumResult `json:"against_medplum,omitempty"`
	ErrorCount        int            `json:"error_count"`
	Errors            []string       `json:"errors"` // the first few of each phase
}

// runtimeInfo says what the client ran on, so that numbers can be compared.
type runtimeInfo struct {
	GoVersion  string `json:"go_version"`
	GOOS       string `json:"goos"`
	GOARCH     string `json:"goarch"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	NumCPU     int    `json:"num_cpu"`
}

// ratioSummary states the results in the terms of the project's goals.
type ratioSummary struct {
	IngestFloorOverServer float64 `json:"ingest_floor_over_server"`
	IngestGoal            float64 `json:"ingest_goal_max"`
	// The same comparison as times: the server's seconds for its resources
	// over the COPY's for its rows, per resource (the two counts are equal
	// unless bundles failed), against issue 18's goal.
	IngestTimeOverCopyTime float64 `json:"ingest_time_over_copy_time"`
	IngestTimeGoal         float64 `json:"ingest_time_goal_max"`
	// The schema floor's time over the COPY's (what the server's tables
	// cost PostgreSQL alone, per resource) and the ingest's over the
	// schema floor's (what the server adds on top).
	SchemaFloorOverCopyTime   float64     `json:"schema_floor_over_copy_time,omitempty"`
	IngestTimeOverSchemaFloor float64     `json:"ingest_time_over_schema_floor,omitempty"`
	ReadP99ServerOverFloor    []readRatio `json:"read_p99_server_over_floor"`
	ReadGoal                  float64     `json:"read_goal_max"`
	// What the HTTP hop alone costs against the same floor: the part of the
	// read ratio no server can remove on this machine.
	ReadP99NoopOverFloor []readRatio `json:"read_p99_http_noop_over_floor"`
}

type readRatio struct {
	Concurrency int     `json:"concurrency"`
	Ratio       float64 `json:"ratio"`
}

func newReport(cfg config) *report {
	mode := "full"
	switch {
	case cfg.scale.on():
		mode = "scale"
	case cfg.ingestOnly:
		mode = "ingest-only"
	case cfg.searchOnly:
		mode = "search-only"
	}
	return &report{
		Tool: "fhirbench", Mode: mode, Started: time.Now().UTC(), Base: cfg.base, Fixtures: cfg.fixtures,
		Copies: cfg.copies, WarmupCopies: cfg.warmCopies, IngestConcurrency: cfg.ingestConcurrency, ReadsPerLevel: cfg.reads,
		Runtime: runtimeInfo{runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.GOMAXPROCS(0), runtime.NumCPU()},
		Errors:  []string{},
	}
}

// computeRatios pairs server and floor numbers when both were measured.
func (r *report) computeRatios() {
	if r.Floor == nil || r.Ingest == nil {
		return
	}
	rs := &ratioSummary{IngestFloorOverServer: ratio(r.Floor.Rate, r.Ingest.Rate), IngestGoal: ingestGoal, ReadGoal: readGoal, IngestTimeGoal: ingestTimeGoal}
	if r.Ingest.Resources > 0 && r.Floor.Resources > 0 {
		rs.IngestTimeOverCopyTime = ratio(r.Ingest.Seconds/float64(r.Ingest.Resources), r.Floor.Seconds/float64(r.Floor.Resources))
		// The schema floor wrote the rows of the ingest's resources.
		if sf := r.SchemaFloor; sf != nil && sf.Seconds > 0 {
			rs.SchemaFloorOverCopyTime = ratio(sf.Seconds/float64(r.Ingest.Resources), r.Floor.Seconds/float64(r.Floor.Resources))
			rs.IngestTimeOverSchemaFloor = ratio(r.Ingest.Seconds, sf.Seconds)
		}
	}
	rs.ReadP99ServerOverFloor = p99Ratios(r.Reads, r.Floor.Reads)
	rs.ReadP99NoopOverFloor = p99Ratios(r.HTTPNoop, r.Floor.Reads)
	r.Ratios = rs
}

// p99Ratios divides the p99 of each level of a by that of the same level of b.
func p99Ratios(a, b []levelResult) []readRatio {
	var out []readRatio
	for _, s := range a {
		for _, f := range b {
			if f.Concurrency == s.Concurrency {
				out = append(out, readRatio{s.Concurrency, ratio(s.P99ms, f.P99ms)})
			}
		}
	}
	return out
}

// collectErrors gathers the count and first messages of every phase's
// errors into the report and returns the count.
func (r *report) collectErrors() int {
	var logs []errorLog
	if r.Ingest != nil {
		logs = append(logs, r.Ingest.errs)
	}
	for _, l := range append(r.Reads, r.HTTPNoop...) {
		logs = append(logs, l.errs)
	}
	searches := r.Searches
	if r.Scale != nil {
		logs = append(logs, r.Scale.errs)
		for _, s := range r.Scale.Steps {
			logs = append(logs, s.errs)
			searches = append(searches, s.Searches...)
		}
	}
	for _, k := range searches {
		for _, l := range append(k.Server, k.SQL...) {
			logs = append(logs, l.errs)
		}
	}
	if r.Floor != nil {
		logs = append(logs, r.Floor.errs)
		for _, l := range r.Floor.Reads {
			logs = append(logs, l.errs)
		}
	}
	r.ErrorCount, r.Errors = 0, []string{}
	for _, l := range logs {
		r.ErrorCount += l.count
		r.Errors = append(r.Errors, l.first...)
	}
	return r.ErrorCount
}

func (r *report) writeJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// writeTable prints the human-readable summary; sections that did not run
// are left out.
func (r *report) writeTable(w io.Writer) {
	rt := r.Runtime
	fmt.Fprintf(w, "fhirbench %s  base %s\n", r.Started.Format(time.RFC3339), r.Base)
	fmt.Fprintf(w, "%s %s/%s  GOMAXPROCS %d  NumCPU %d\n", rt.GoVersion, rt.GOOS, rt.GOARCH, rt.GOMAXPROCS, rt.NumCPU)
	switch r.Mode {
	case "scale":
		fmt.Fprintf(w, "mode scale, fixtures %s, ingest concurrency %d\n", strings.Join(r.Fixtures, ","), r.IngestConcurrency)
	case "search-only":
		fmt.Fprintf(w, "mode search-only\n")
	default:
		fmt.Fprintf(w, "mode %s, fixtures %s: %d provider bundles + %d warm-up copies (untimed), then %d bundles (%d copies) timed, ingest concurrency %d\n",
			r.Mode, strings.Join(r.Fixtures, ","), r.ProviderBundles, r.WarmupCopies, r.Bundles, r.Copies, r.IngestConcurrency)
	}
	r.ingestRows(w)
	r.readRows(w)
	if r.Mode != "ingest-only" {
		r.ratioRows(w)
	}
	r.searchRows(w)
	r.medplumRows(w)
	r.sizeRows(w)
	r.scaleRows(w)
	r.memRows(w)
	r.ingestSummary(w)
	r.ingestCPU(w)
	if r.ErrorCount > 0 {
		fmt.Fprintf(w, "\n%d ERRORS, the first:\n  %s\n", r.ErrorCount, strings.Join(r.Errors, "\n  "))
	}
}

func (r *report) ingestRows(w io.Writer) {
	if r.Ingest == nil {
		return
	}
	const row = "%-16s %10v %10v %12v %7v\n"
	fmt.Fprintf(w, "\n"+row, "INGEST", "resources", "seconds", "resources/s", "errors")
	fmt.Fprintf(w, row, "server", r.Ingest.Resources, fmt.Sprintf("%.2f", r.Ingest.Seconds), fmt.Sprintf("%.0f", r.Ingest.Rate), r.Ingest.errs.count)
	if r.Floor != nil {
		fmt.Fprintf(w, row, "postgres floor", r.Floor.Resources, fmt.Sprintf("%.2f", r.Floor.Seconds), fmt.Sprintf("%.0f", r.Floor.Rate), r.Floor.errs.count)
	}
	fmt.Fprintf(w, "untimed warm-up (providers, %d copies): server %.2f s", r.WarmupCopies, r.Ingest.WarmupSeconds)
	if r.Floor != nil {
		fmt.Fprintf(w, ", floor %.2f s", r.Floor.Warmup)
	}
	fmt.Fprintln(w)
}

func (r *report) readRows(w io.Writer) {
	if len(r.Reads) == 0 {
		return
	}
	const row = "%-16s %11v %9v %9v %9v %9v %7v\n"
	fmt.Fprintf(w, "\n"+row, "READ", "concurrency", "requests", "p50 ms", "p99 ms", "req/s", "errors")
	print := func(who string, l levelResult) {
		fmt.Fprintf(w, row, who, l.Concurrency, l.Requests, fmt.Sprintf("%.3f", l.P50ms), fmt.Sprintf("%.3f", l.P99ms), fmt.Sprintf("%.0f", l.RPS), l.Errors)
	}
	for _, l := range r.Reads {
		print("server", l)
	}
	for _, l := range r.HTTPNoop {
		print("http no-op", l)
	}
	if r.Floor != nil {
		for _, l := range r.Floor.Reads {
			print("postgres floor", l)
		}
	}
}

func (r *report) ratioRows(w io.Writer) {
	if r.Ratios == nil {
		return
	}
	verdict := func(x, goal float64) string {
		if x > 0 && x <= goal {
			return "met"
		}
		return "NOT met"
	}
	rs := r.Ratios
	fmt.Fprintf(w, "\nGOALS (ratio to the PostgreSQL floor)\n")
	fmt.Fprintf(w, "  ingest floor/server resources/s  %6.2fx  goal <= %.0fx  %s\n", rs.IngestFloorOverServer, rs.IngestGoal, verdict(rs.IngestFloorOverServer, rs.IngestGoal))
	for _, rr := range rs.ReadP99ServerOverFloor {
		fmt.Fprintf(w, "  read p99 server/floor at %-4d     %6.2fx  goal <= %.0fx  %s\n", rr.Concurrency, rr.Ratio, rs.ReadGoal, verdict(rr.Ratio, rs.ReadGoal))
	}
	for _, rr := range rs.ReadP99NoopOverFloor {
		fmt.Fprintf(w, "  (the HTTP hop alone: no-op p99/floor at %-4d %5.2fx)\n", rr.Concurrency, rr.Ratio)
	}
}

// ingestCPU states the server's CPU during the timed ingest, a resource at
// a time and as a share of the machine's busy cores (--server-pid).
func (r *report) ingestCPU(w io.Writer) {
	if r.Ingest == nil || r.Ingest.Resources == 0 || r.ServerMemory == nil {
		return
	}
	for _, p := range r.ServerMemory.Phases {
		if p.Phase == "ingest" && p.MachineCPU > 0 {
			fmt.Fprintf(w, "SERVER CPU during the timed ingest: %.1f s, %.1f us a resource, %.0f%% of the machine's busy CPU (%.1f s)\n",
				p.ServerCPU, 1e6*p.ServerCPU/float64(r.Ingest.Resources), 100*p.ServerCPU/p.MachineCPU, p.MachineCPU)
		}
	}
}

// ingestSummary is the one line that states the ingest against the COPY of
// the same rows: both rates, the ratio of the times and the concurrency.
func (r *report) ingestSummary(w io.Writer) {
	if r.Ingest == nil {
		return
	}
	fmt.Fprintf(w, "\nINGEST SUMMARY: server %d resources in %.1f s = %.0f resources/s (ingest concurrency %d, %d failed bundles)",
		r.Ingest.Resources, r.Ingest.Seconds, r.Ingest.Rate, r.IngestConcurrency, r.Ingest.FailedBundles)
	if r.Floor == nil || r.Ratios == nil {
		fmt.Fprintln(w, "; no COPY floor (no --database-url)")
		return
	}
	verdict := "met"
	if x := r.Ratios.IngestTimeOverCopyTime; x <= 0 || x > ingestTimeGoal {
		verdict = "NOT met"
	}
	fmt.Fprintf(w, "; COPY of the same rows %d in %.1f s = %.0f rows/s; ingest time / COPY time %.2f (goal <= %.0f: %s)\n",
		r.Floor.Resources, r.Floor.Seconds, r.Floor.Rate, r.Ratios.IngestTimeOverCopyTime, ingestTimeGoal, verdict)
	if sf := r.SchemaFloor; sf != nil && r.Ratios.SchemaFloorOverCopyTime > 0 {
		fmt.Fprintf(w, "SCHEMA FLOOR: PostgreSQL alone wrote the timed ingest's %d rows (%d tables, %d index entries, %.1f rows and %.1f entries a resource) into empty copies of the server's tables with %d connections in %.1f s = %.2f x the COPY time; ingest time / schema floor %.2f\n",
			sf.Rows, len(sf.Tables), sf.Entries, float64(sf.Rows)/float64(r.Ingest.Resources), float64(sf.Entries)/float64(r.Ingest.Resources),
			sf.Workers, sf.Seconds, r.Ratios.SchemaFloorOverCopyTime, r.Ratios.IngestTimeOverSchemaFloor)
		for _, t := range sf.Tables {
			fmt.Fprintf(w, "  %-28s %10d rows %2d indexes\n", t.Name, t.Rows, t.Indexes)
		}
	}
}
