package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// The scale mode (--scale-patients 1000,64000) asks whether searches stay
// as fast as the data grows (issue 18 goal 5: each search kind's throughput
// at 64K patients at least 80 % of its figure at 1K). It loads the
// providers, then trimmed copies of the patient bundles (trim.go: the same
// subset of each patient at every step, fresh ids per copy, several
// patients a transaction Bundle, posted in parallel) up to the first count,
// runs the searches against the server alone, loads more up to the next
// count in the same server and runs the same searches again.

// scaleConfig is the scale mode's part of the command line.
type scaleConfig struct {
	patients  []int // cumulative counts, ascending
	keep      []keepRule
	perBundle int
	// passes is how many times each step's searches run: this machine's
	// throughput drifts by a third between runs minutes apart, as much as
	// the gaps the goal measures, so each kind and level is compared by
	// its median pass.
	passes int
}

func (s scaleConfig) on() bool { return len(s.patients) > 0 }

// scaleGoal is the least share of its first-step throughput a search kind
// keeps at the last step.
const scaleGoal = 0.80

// scaleResult is the scale mode's section of the report.
type scaleResult struct {
	PerPatient        []keepRule     `json:"per_patient"`
	TemplateResources []int          `json:"template_resources"` // resources of each trimmed patient
	MeanPerPatient    float64        `json:"mean_resources_per_patient"`
	PatientsPerBundle int            `json:"patients_per_bundle"`
	ProviderResources int            `json:"provider_resources"`
	Steps             []*scaleStep   `json:"steps"`
	Comparison        []scaleCompare `json:"comparison,omitempty"`
	errs              errorLog
}

// scaleStep is one count of patients: what it took to load it and the
// searches at it.
type scaleStep struct {
	Patients      int     `json:"patients"`  // loaded in all, successfully
	Resources     int     `json:"resources"` // loaded in all, providers included
	StepPatients  int     `json:"step_patients"`
	StepResources int     `json:"step_resources"`
	Bundles       int     `json:"bundles"`
	FailedBundles int     `json:"failed_bundles"`
	IngestSeconds float64 `json:"ingest_seconds"`
	IngestRate    float64 `json:"ingest_resources_per_second"`
	DatabaseBytes int64   `json:"database_bytes,omitempty"` // pg_database_size after VACUUM (ANALYZE)
	VersionRows   int64   `json:"resource_version_rows,omitempty"`
	// Searches are each kind and level's median pass (medianPass), which
	// the comparison uses; Passes every pass as measured.
	Searches []searchKind   `json:"searches"`
	Passes   [][]searchKind `json:"passes"`
	errs     errorLog
}

// scaleCompare is one search kind at one level, the last step against the first.
type scaleCompare struct {
	Kind        string  `json:"kind"`
	Concurrency int     `json:"concurrency"`
	FirstRPS    float64 `json:"first_searches_per_second"`
	LastRPS     float64 `json:"last_searches_per_second"`
	Ratio       float64 `json:"ratio"`
	Met         bool    `json:"met"`
	FirstP50    float64 `json:"first_p50_ms"`
	FirstP99    float64 `json:"first_p99_ms"`
	LastP50     float64 `json:"last_p50_ms"`
	LastP99     float64 `json:"last_p99_ms"`
}

// scalePhases runs the scale mode.
func scalePhases(ctx context.Context, cfg config, rep *report, mem *rssSampler, logw io.Writer) error {
	fixtures, err := loadFixtures(cfg.fixtures, logw)
	if err != nil {
		return err
	}
	templates, err := patientTemplates(fixtures, cfg.scale.keep)
	if err != nil {
		return err
	}
	sr := &scaleResult{PerPatient: cfg.scale.keep, PatientsPerBundle: cfg.scale.perBundle}
	rep.Scale = sr
	total := 0
	for _, t := range templates {
		sr.TemplateResources = append(sr.TemplateResources, len(t.entries))
		total += len(t.entries)
	}
	sr.MeanPerPatient = float64(total) / float64(len(templates))
	client := newHTTPClient(cfg.requestTimeout, max(64, maxOf(cfg.searchLevels), cfg.ingestConcurrency))
	tokens, err := newTokenSource(ctx, client, cfg.base, cfg.creds)
	if err != nil {
		return err
	}
	fc := &fhirClient{base: cfg.base, http: client, tokens: tokens}
	var pool *pgxpool.Pool
	if cfg.databaseURL != "" {
		if pool, err = openPool(ctx, floorConfig{databaseURL: cfg.databaseURL}); err != nil {
			return err
		}
		defer pool.Close()
	}
	fmt.Fprintf(logw, "scale: %d trimmed patient templates, %.1f resources a patient (%s), %d patients a Bundle, %d workers\n",
		len(templates), sr.MeanPerPatient, keepString(cfg.scale.keep), cfg.scale.perBundle, cfg.ingestConcurrency)
	for i := range fixtures {
		if f := &fixtures[i]; f.provider {
			_, n, err := postBundle(ctx, fc, ingestJob{name: f.path, body: f.data, entries: len(f.entries)})
			if err != nil {
				return fmt.Errorf("provider bundle %s: %w", f.path, err)
			}
			sr.ProviderResources += n
		}
	}
	loaded, resources := 0, sr.ProviderResources
	for _, target := range cfg.scale.patients {
		if ctx.Err() != nil {
			break
		}
		step := &scaleStep{}
		sr.Steps = append(sr.Steps, step)
		fmt.Fprintf(logw, "scale: loading patients %d to %d\n", loaded, target-1)
		start := time.Now()
		mem.phase(fmt.Sprintf("ingest to %d patients", target), func() {
			ingestPatients(ctx, fc, templates, loaded, target, cfg.scale.perBundle, cfg.ingestConcurrency, step, logw)
		})
		step.IngestSeconds = time.Since(start).Seconds()
		step.IngestRate = perSecond(step.StepResources, step.IngestSeconds)
		loaded = target
		resources += step.StepResources
		prev := 0
		if len(sr.Steps) > 1 {
			prev = sr.Steps[len(sr.Steps)-2].Patients
		}
		step.Patients, step.Resources = prev+step.StepPatients, resources
		if pool != nil {
			// As in searchPhase: statistics and visibility maps, as autovacuum
			// keeps them on a server that has been running a while.
			if err := settle(ctx, pool, logw); err != nil {
				return err
			}
			if err := pool.QueryRow(ctx, `SELECT pg_database_size(current_database()),
				(SELECT reltuples::bigint FROM pg_class WHERE relname = 'resource_version' AND relkind = 'r' LIMIT 1)`).
				Scan(&step.DatabaseBytes, &step.VersionRows); err != nil {
				return err
			}
		}
		s, err := sampleData(ctx, fc)
		if err != nil {
			return fmt.Errorf("at %d patients: %w", target, err)
		}
		passes := max(cfg.scale.passes, 1)
		for pass := 1; pass <= passes && ctx.Err() == nil; pass++ {
			fmt.Fprintf(logw, "scale: searches at %d patients (%d resources), pass %d of %d, %d of each kind per level, levels %v\n",
				step.Patients, step.Resources, pass, passes, cfg.searchReads, cfg.searchLevels)
			tag := fmt.Sprintf(" @%d", target)
			if passes > 1 {
				tag += fmt.Sprintf(" pass %d", pass)
			}
			step.Passes = append(step.Passes, runSearches(ctx, fc, nil, pool, s, cfg, searchWarmup(cfg), mem, tag))
		}
		step.Searches = medianPass(step.Passes)
	}
	sr.compare()
	return ctx.Err()
}

// ingestPatients posts the patients from..to-1 as transaction Bundles of
// perBundle patients, built by the workers themselves as they go (64K
// patients' bodies would not all fit in memory at once, and the build is
// small next to the server's work on them).
func ingestPatients(ctx context.Context, c *fhirClient, templates []fixture, from, to, perBundle, workers int, step *scaleStep, logw io.Writer) {
	var next atomic.Int64
	next.Store(int64(from))
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := time.Now()
	done := make(chan struct{})
	go func() { // progress, for runs that take many minutes
		t := time.NewTicker(30 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				mu.Lock()
				fmt.Fprintf(logw, "scale: %d of %d patients loaded, %d resources, %.0f resources/s\n",
					from+step.StepPatients, to, step.StepResources, perSecond(step.StepResources, time.Since(start).Seconds()))
				mu.Unlock()
			}
		}
	}()
	for range max(workers, 1) {
		wg.Go(func() {
			for ctx.Err() == nil {
				lo := int(next.Add(int64(perBundle))) - perBundle
				if lo >= to {
					return
				}
				hi := min(lo+perBundle, to)
				job, err := patientBatch(templates, lo, hi, newUUID)
				n := 0
				if err == nil {
					_, n, err = postBundle(ctx, c, job)
				}
				mu.Lock()
				step.Bundles++
				step.StepResources += n
				if err != nil {
					step.FailedBundles++
					step.errs.add(fmt.Sprintf("bundle %s: %v", job.name, err))
				} else {
					step.StepPatients += hi - lo
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(done)
}

// medianPass is the first pass with each kind and level's figures taken
// from its median pass by throughput (the lower middle one of an even
// number), latencies with their throughput: one slow or fast pass moves
// nothing.
func medianPass(passes [][]searchKind) []searchKind {
	if len(passes) == 0 {
		return nil
	}
	out := make([]searchKind, len(passes[0]))
	for i, k := range passes[0] {
		out[i] = k
		out[i].Server = make([]levelResult, len(k.Server))
		for j, lvl := range k.Server {
			var runs []levelResult
			for _, pass := range passes {
				if i < len(pass) && pass[i].Name == k.Name && j < len(pass[i].Server) && pass[i].Server[j].Concurrency == lvl.Concurrency {
					runs = append(runs, pass[i].Server[j])
				}
			}
			slices.SortStableFunc(runs, func(a, b levelResult) int { return cmp.Compare(a.RPS, b.RPS) })
			out[i].Server[j] = runs[(len(runs)-1)/2]
		}
	}
	return out
}

// compare sets each kind and level of the last step against the first.
func (sr *scaleResult) compare() {
	if len(sr.Steps) < 2 {
		return
	}
	first, last := sr.Steps[0], sr.Steps[len(sr.Steps)-1]
	for _, a := range first.Searches {
		for _, b := range last.Searches {
			if a.Name != b.Name {
				continue
			}
			for _, x := range a.Server {
				for _, y := range b.Server {
					if x.Concurrency == y.Concurrency {
						r := ratio(y.RPS, x.RPS)
						sr.Comparison = append(sr.Comparison, scaleCompare{
							Kind: a.Name, Concurrency: x.Concurrency, FirstRPS: x.RPS, LastRPS: y.RPS, Ratio: r, Met: r >= scaleGoal,
							FirstP50: x.P50ms, FirstP99: x.P99ms, LastP50: y.P50ms, LastP99: y.P99ms,
						})
					}
				}
			}
		}
	}
}

func keepString(keep []keepRule) string {
	var parts []string
	for _, k := range keep {
		parts = append(parts, fmt.Sprintf("%s=%d", k.Type, k.N))
	}
	return strings.Join(parts, ",")
}

// scaleRows prints the data set at each step and the comparison.
func (r *report) scaleRows(w io.Writer) {
	sr := r.Scale
	if sr == nil {
		return
	}
	lo, hi := sr.TemplateResources[0], sr.TemplateResources[0]
	for _, n := range sr.TemplateResources {
		lo, hi = min(lo, n), max(hi, n)
	}
	fmt.Fprintf(w, "\nSCALE: each patient copy keeps its Patient, %s and what they refer to: %d-%d resources, mean %.1f; %d patients a transaction Bundle; providers %d resources\n",
		keepString(sr.PerPatient), lo, hi, sr.MeanPerPatient, sr.PatientsPerBundle, sr.ProviderResources)
	const row = "%10v %12v %14v %10v %12v %12v %14v %7v\n"
	fmt.Fprintf(w, row, "patients", "resources", "step resources", "seconds", "resources/s", "database MB", "version rows", "errors")
	for _, s := range sr.Steps {
		db := "-"
		if s.DatabaseBytes > 0 {
			db = fmt.Sprintf("%.0f", float64(s.DatabaseBytes)/1e6)
		}
		fmt.Fprintf(w, row, s.Patients, s.Resources, s.StepResources, fmt.Sprintf("%.1f", s.IngestSeconds), fmt.Sprintf("%.0f", s.IngestRate), db, s.VersionRows, s.errs.count)
	}
	for _, s := range sr.Steps {
		fmt.Fprintf(w, "\nSEARCH at %d patients", s.Patients)
		(&report{Searches: s.Searches}).searchRows(w)
	}
	if len(sr.Comparison) == 0 {
		return
	}
	first, last := sr.Steps[0].Patients, sr.Steps[len(sr.Steps)-1].Patients
	fmt.Fprintf(w, "\nSCALE GOAL: searches/s at %d patients over searches/s at %d (goal >= %.2f)\n", last, first, scaleGoal)
	const crow = "%-30s %5v %10v %10v %7v %8v %10v %10v %10v %10v\n"
	a, b := fmt.Sprint(first), fmt.Sprint(last)
	fmt.Fprintf(w, crow, "kind", "conc", "/s @"+a, "/s @"+b, "ratio", "goal", "p50 @"+a, "p50 @"+b, "p99 @"+a, "p99 @"+b)
	for _, c := range sr.Comparison {
		verdict := "met"
		if !c.Met {
			verdict = "NOT met"
		}
		fmt.Fprintf(w, crow, c.Kind, c.Concurrency, fmt.Sprintf("%.1f", c.FirstRPS), fmt.Sprintf("%.1f", c.LastRPS), fmt.Sprintf("%.2f", c.Ratio), verdict,
			fmt.Sprintf("%.2f", c.FirstP50), fmt.Sprintf("%.2f", c.LastP50), fmt.Sprintf("%.2f", c.FirstP99), fmt.Sprintf("%.2f", c.LastP99))
	}
}
