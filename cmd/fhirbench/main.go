// Command fhirbench measures a FHIR R4 server: bundle ingest throughput and
// read latency at several concurrency levels, through the server's own SMART
// client-credentials authorisation, and compares both with the physical
// floor, PostgreSQL alone doing COPY and primary-key lookups of the same
// resources. It works against any FHIR R4 base URL; `make bench` runs it.
//
// Usage:
//
//	fhirbench --base http://127.0.0.1:8080/fhir --client-id bench \
//	    [--fixtures DIR[,DIR]] [--copies 3] [--warmup-copies 1] [--concurrency 1,16,64] \
//	    [--database-url postgres://...] [--server-pid PID] [--json out.json]
//
// Modes: the default (ingest, reads, the HTTP hop, the floor, with --search
// the searches); --search-only (searches of data already loaded);
// --ingest-only (the ingest and the COPY floor of the same rows, nothing
// else); --scale-patients 1000,64000 (trimmed patients loaded in steps, the
// same searches at each step, see scale.go).
//
// The client secret comes from --client-secret or FHIRBENCH_CLIENT_SECRET.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// config is the parsed command line.
type config struct {
	base              string
	creds             credentials
	fixtures          []string
	copies            int
	warmCopies        int
	ingestConcurrency int
	levels            []int
	reads             int
	warmup            int
	search            bool
	searchOnly        bool
	searchLevels      []int
	searchReads       int
	searchKinds       []string
	everythingReads   int
	databaseURL       string
	ingestOnly        bool
	serverPID         int
	rssInterval       time.Duration
	scale             scaleConfig
	jsonOut           string
	timeout           time.Duration
	requestTimeout    time.Duration
}

func main() {
	os.Exit(realMain())
}

// realMain returns the exit code so that deferred cancels run before exit.
func realMain() int {
	if len(os.Args) > 1 && os.Args[1] == noopFlag {
		return noopMain(os.Args[2:])
	}
	cfg, err := parseFlags(os.Args[1:], os.Getenv, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "fhirbench:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, cfg.timeout)
	defer cancel()
	if err := run(ctx, cfg, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "fhirbench:", err)
		return 1
	}
	return 0
}

// parseFlags reads the command line; getenv supplies FHIRBENCH_CLIENT_SECRET.
func parseFlags(args []string, getenv func(string) string, errw io.Writer) (config, error) {
	var cfg config
	fs := flag.NewFlagSet("fhirbench", flag.ContinueOnError)
	fs.SetOutput(errw)
	fixtures := listFlag{def: []string{"../shared/fixtures/synthea-blaze"}}
	levels := "1,16,64"
	fs.StringVar(&cfg.base, "base", "", "FHIR R4 base URL (required), e.g. http://127.0.0.1:8080/fhir")
	fs.StringVar(&cfg.creds.clientID, "client-id", "", "OAuth2 client id (required)")
	fs.StringVar(&cfg.creds.clientSecret, "client-secret", "", "OAuth2 client secret; prefer $FHIRBENCH_CLIENT_SECRET, which ps cannot show")
	fs.StringVar(&cfg.creds.scope, "scope", "system/*.*", "scope requested with the token")
	fs.Var(&fixtures, "fixtures", "fixture directory; repeatable or comma-separated")
	fs.IntVar(&cfg.copies, "copies", 3, "timed copies of each non-provider bundle, each with fresh ids")
	fs.IntVar(&cfg.warmCopies, "warmup-copies", 1, "untimed copies ingested first, after the providers, on both sides")
	fs.IntVar(&cfg.ingestConcurrency, "ingest-concurrency", 4, "bundles posted in parallel")
	fs.StringVar(&levels, "concurrency", levels, "comma-separated read concurrency levels")
	fs.IntVar(&cfg.reads, "reads", 2000, "measured reads per concurrency level")
	fs.IntVar(&cfg.warmup, "warmup", 200, "unmeasured warm-up reads before each level")
	fs.StringVar(&cfg.databaseURL, "database-url", "", "PostgreSQL URL for the physical floor (optional)")
	fs.BoolVar(&cfg.search, "search", false, "also measure searches (patient+code, patient+category+date, name prefix, _include, $everything)")
	fs.BoolVar(&cfg.searchOnly, "search-only", false, "measure only the searches, against data already on the server (no ingest, reads or COPY floor)")
	searchLevels := "1,32"
	fs.StringVar(&searchLevels, "search-concurrency", searchLevels, "comma-separated concurrency levels of the search test")
	fs.IntVar(&cfg.searchReads, "search-reads", 200, "measured searches of each kind per level")
	fs.IntVar(&cfg.everythingReads, "everything-reads", 10, "measured $everything reads (all pages) per level")
	kinds := ""
	fs.StringVar(&kinds, "search-kinds", "", "comma-separated kinds to measure, by the start of their names (e.g. patient+code,name); default all")
	fs.BoolVar(&cfg.ingestOnly, "ingest-only", false, "measure only the ingest and, with --database-url, the COPY of the same rows (no reads, HTTP hop or searches)")
	fs.IntVar(&cfg.serverPID, "server-pid", 0, "the server's process id: its resident set (/proc/PID/status) is sampled and each phase's peak reported")
	fs.DurationVar(&cfg.rssInterval, "rss-interval", 100*time.Millisecond, "how often --server-pid's resident set is read")
	scalePatients, scaleKeep := "", defaultScaleKeep
	fs.StringVar(&scalePatients, "scale-patients", "", "scale mode: comma-separated cumulative patient counts (e.g. 1000,64000); trimmed patients are loaded up to each count and the searches run at each")
	fs.StringVar(&scaleKeep, "scale-per-patient", scaleKeep, "scale mode: what each patient copy keeps besides the Patient, Type=N first of each type (and whatever they refer to in the bundle)")
	fs.IntVar(&cfg.scale.perBundle, "scale-batch", 10, "scale mode: trimmed patients per transaction Bundle")
	fs.IntVar(&cfg.scale.passes, "scale-passes", 3, "scale mode: how many times each step's searches run; each kind and level is compared by its median pass")
	fs.StringVar(&cfg.jsonOut, "json", "", "also write all numbers as JSON to this file")
	fs.DurationVar(&cfg.timeout, "timeout", 20*time.Minute, "limit for the whole run")
	fs.DurationVar(&cfg.requestTimeout, "request-timeout", 5*time.Minute, "limit for one HTTP request (large bundles take long)")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	cfg.fixtures = fixtures.values()
	if cfg.creds.clientSecret == "" {
		// Not the flag's default: -help would print the secret.
		cfg.creds.clientSecret = getenv("FHIRBENCH_CLIENT_SECRET")
	}
	cfg.base = strings.TrimRight(cfg.base, "/")
	cfg.search = cfg.search || cfg.searchOnly
	if kinds != "" {
		cfg.searchKinds = strings.Split(kinds, ",")
	}
	var err error
	if cfg.levels, err = parseLevels(levels); err != nil {
		return cfg, err
	}
	if cfg.searchLevels, err = parseLevels(searchLevels); err != nil {
		return cfg, err
	}
	if scalePatients != "" {
		if cfg.scale.patients, err = parseCounts(scalePatients); err != nil {
			return cfg, err
		}
		if cfg.scale.keep, err = parseKeep(scaleKeep); err != nil {
			return cfg, err
		}
	}
	return cfg, cfg.validate()
}

// validate keeps every loop of the run bounded and the inputs usable.
func (c config) validate() error {
	switch {
	case c.base == "" || !(strings.HasPrefix(c.base, "http://") || strings.HasPrefix(c.base, "https://")):
		return fmt.Errorf("--base must be an http(s) URL")
	case c.creds.clientID == "" || c.creds.clientSecret == "":
		return fmt.Errorf("--client-id and --client-secret (or FHIRBENCH_CLIENT_SECRET) are required")
	case c.copies < 1 || c.copies > 1000 || c.warmCopies < 0 || c.warmCopies > 1000:
		return fmt.Errorf("--copies must be 1..1000 and --warmup-copies 0..1000")
	case c.ingestConcurrency < 1 || c.ingestConcurrency > 256:
		return fmt.Errorf("--ingest-concurrency must be 1..256")
	case c.searchReads < 1 || c.everythingReads < 1:
		return fmt.Errorf("--search-reads and --everything-reads must be positive")
	case c.reads < 1 || c.reads > 10_000_000 || c.warmup < 0 || c.warmup > 1_000_000:
		return fmt.Errorf("--reads must be 1..10000000 and --warmup 0..1000000")
	case c.timeout <= 0 || c.requestTimeout <= 0:
		return fmt.Errorf("--timeout and --request-timeout must be positive")
	case c.serverPID < 0 || c.rssInterval < time.Millisecond:
		return fmt.Errorf("--server-pid must be a process id and --rss-interval at least 1ms")
	case c.ingestOnly && c.search:
		return fmt.Errorf("--ingest-only excludes --search and --search-only")
	case c.scale.on() && (c.ingestOnly || c.searchOnly):
		return fmt.Errorf("--scale-patients excludes --ingest-only and --search-only")
	case c.scale.on() && (c.scale.perBundle < 1 || c.scale.perBundle > 1000):
		return fmt.Errorf("--scale-batch must be 1..1000")
	case c.scale.on() && (c.scale.passes < 1 || c.scale.passes > 20):
		return fmt.Errorf("--scale-passes must be 1..20")
	}
	return nil
}

// parseLevels parses "1,16,64".
func parseLevels(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 1024 {
			return nil, fmt.Errorf("--concurrency: %q is not a level in 1..1024", f)
		}
		out = append(out, n)
	}
	return out, nil
}

// listFlag is a repeatable, comma-splitting string flag whose default is
// replaced (not extended) by the first explicit value.
type listFlag struct {
	def, set []string
}

func (l *listFlag) String() string { return strings.Join(l.values(), ",") }

func (l *listFlag) Set(v string) error {
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			l.set = append(l.set, p)
		}
	}
	return nil
}

func (l *listFlag) values() []string {
	if len(l.set) > 0 {
		return l.set
	}
	return l.def
}
