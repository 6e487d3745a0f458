package main

import (
	"fmt"
	"io"
)

// Issue 18 measured Medplum 5.0.10 (its own server, Redis and the same
// PostgreSQL service) beside this server on a 2-core machine with this
// tool and the arguments it names. Goal 1 is every read level and search
// kind at most half of Medplum's p50 and p99 (aim for 2.5x, machines drift);
// goal 2 is 4,000 reads/s at c=64 with a p99 of at most 40 ms. A run
// prints where it stands against both (medplumRows); the no-op figure
// says how fast this run's machine is against that one.
var medplumFigures = []struct {
	Kind        string
	Concurrency int
	P50, P99    float64 // ms
}{
	{"read", 1, 2.23, 11.7}, {"read", 16, 26.5, 68.4}, {"read", 64, 87.8, 121.6},
	{"patient+code", 1, 12.2, 26.1}, {"patient+code", 16, 83.5, 132.8},
	{"patient+category+date", 1, 7.2, 15.8}, {"patient+category+date", 16, 71.0, 107.4},
	{"name prefix", 16, 209.4, 306.8},
	{"_include", 16, 88.3, 109.4},
	{"$everything (largest patient)", 16, 2738, 2754},
}

const (
	medplumNoopP50 = 0.14 // ms: the HTTP no-op at c=1 in Medplum's run
	medplumFactor  = 2.0  // goal 1: at least twice as fast
	goal2Reads     = 4000 // reads/s at c=64
	goal2P99       = 40.0 // ms
)

// medplumCompare is one of Medplum's figures against this run's.
type medplumCompare struct {
	Kind        string  `json:"kind"`
	Concurrency int     `json:"concurrency"`
	MedplumP50  float64 `json:"medplum_p50_ms"`
	MedplumP99  float64 `json:"medplum_p99_ms"`
	P50         float64 `json:"p50_ms"`
	P99         float64 `json:"p99_ms"`
	// FasterP50 and FasterP99 are Medplum's latency over this run's.
	FasterP50 float64 `json:"times_faster_p50"`
	FasterP99 float64 `json:"times_faster_p99"`
	Met       bool    `json:"met"`
}

// medplumResult is goals 1 and 2 of issue 18 for one run.
type medplumResult struct {
	NoopP50        float64          `json:"http_noop_p50_ms_c1,omitempty"`
	MedplumNoopP50 float64          `json:"medplum_run_http_noop_p50_ms_c1"`
	Figures        []medplumCompare `json:"figures"`
	ReadsC64       float64          `json:"reads_per_second_c64,omitempty"`
	ReadsC64P99    float64          `json:"reads_p99_ms_c64,omitempty"`
	Goal2Met       bool             `json:"goal2_met"`
}

// computeMedplum sets each of Medplum's figures that this run measured
// against it; nothing when it measured none (ingest-only, scale).
func (r *report) computeMedplum() {
	if r.Mode == "scale" || r.Mode == "ingest-only" {
		return
	}
	m := &medplumResult{MedplumNoopP50: medplumNoopP50}
	for _, l := range r.HTTPNoop {
		if l.Concurrency == 1 {
			m.NoopP50 = l.P50ms
		}
	}
	for _, f := range medplumFigures {
		l, ok := r.measured(f.Kind, f.Concurrency)
		if !ok {
			continue
		}
		c := medplumCompare{Kind: f.Kind, Concurrency: f.Concurrency, MedplumP50: f.P50, MedplumP99: f.P99, P50: l.P50ms, P99: l.P99ms,
			FasterP50: ratio(f.P50, l.P50ms), FasterP99: ratio(f.P99, l.P99ms)}
		c.Met = l.Requests > 0 && l.Errors == 0 && c.FasterP50 >= medplumFactor && c.FasterP99 >= medplumFactor
		m.Figures = append(m.Figures, c)
	}
	if l, ok := r.measured("read", 64); ok {
		m.ReadsC64, m.ReadsC64P99 = l.RPS, l.P99ms
		m.Goal2Met = l.Errors == 0 && l.RPS >= goal2Reads && l.P99ms <= goal2P99
	}
	if len(m.Figures) > 0 {
		r.Medplum = m
	}
}

// measured is this run's result for a read level or a search kind's level.
func (r *report) measured(kind string, concurrency int) (levelResult, bool) {
	levels := r.Reads
	if kind != "read" {
		levels = nil
		for _, k := range r.Searches {
			if k.Name == kind {
				levels = k.Server
			}
		}
	}
	for _, l := range levels {
		if l.Concurrency == concurrency {
			return l, true
		}
	}
	return levelResult{}, false
}

func (r *report) medplumRows(w io.Writer) {
	m := r.Medplum
	if m == nil {
		return
	}
	fmt.Fprintf(w, "\nAGAINST MEDPLUM (issue 18 goal 1: at least %.0fx faster at p50 and p99; this run's HTTP no-op p50 at c=1 %.3f ms, Medplum's run's %.2f ms)\n",
		medplumFactor, m.NoopP50, m.MedplumNoopP50)
	const row = "%-30s %5v %12v %12v %15v %15v %8v\n"
	fmt.Fprintf(w, row, "kind", "conc", "Medplum p50", "Medplum p99", "p50", "p99", "goal")
	for _, c := range m.Figures {
		verdict := "met"
		if !c.Met {
			verdict = "NOT met"
		}
		fmt.Fprintf(w, row, c.Kind, c.Concurrency, fmt.Sprintf("%.2f", c.MedplumP50), fmt.Sprintf("%.2f", c.MedplumP99),
			fmt.Sprintf("%.2f %.1fx", c.P50, c.FasterP50), fmt.Sprintf("%.2f %.1fx", c.P99, c.FasterP99), verdict)
	}
	if m.ReadsC64 > 0 {
		verdict := "met"
		if !m.Goal2Met {
			verdict = "NOT met"
		}
		fmt.Fprintf(w, "goal 2: reads at c=64 %.0f/s (goal >= %d), p99 %.2f ms (goal <= %.0f): %s\n", m.ReadsC64, goal2Reads, m.ReadsC64P99, goal2P99, verdict)
	}
}
