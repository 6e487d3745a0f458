package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// op is one measured request; rng is private to the calling goroutine.
type op func(ctx context.Context, rng *rand.Rand) error

// levelResult is one concurrency level of a read test.
type levelResult struct {
	Concurrency int     `json:"concurrency"`
	Requests    int     `json:"requests"`
	Errors      int     `json:"errors"`
	Seconds     float64 `json:"seconds"`
	RPS         float64 `json:"requests_per_second"`
	P50ms       float64 `json:"p50_ms"`
	P99ms       float64 `json:"p99_ms"`
	MeanMs      float64 `json:"mean_ms"`
	MaxMs       float64 `json:"max_ms"`
	errs        errorLog
}

// measureLevels runs a warm-up and then n measured calls of fn at every
// concurrency level. The warm-up opens the connections and fills caches so
// that the first level is not charged for them. With a sampler, the server's
// peak resident set during each level's measured calls is recorded as the
// phase "label c=N".
func measureLevels(ctx context.Context, levels []int, n, warmup int, fn op, mem *rssSampler, label string) []levelResult {
	var out []levelResult
	for _, c := range levels {
		if ctx.Err() != nil {
			break
		}
		runLoad(ctx, c, warmup, fn)
		mem.phase(fmt.Sprintf("%s c=%d", label, c), func() { out = append(out, runLoad(ctx, c, n, fn)) })
	}
	return out
}

// runLoad makes n calls of fn from conc goroutines and times each one.
// Latency percentiles are over successful calls; failures are counted.
func runLoad(ctx context.Context, conc, n int, fn op) levelResult {
	return runSides(ctx, conc, n, 1, func(ctx context.Context, rng *rand.Rand, timed func(side int, call func() error)) {
		timed(0, func() error { return fn(ctx, rng) })
	})[0]
}

// runSides runs n iterations from conc goroutines; each iteration makes
// timed calls on one or more sides, whose latencies are kept apart.
func runSides(ctx context.Context, conc, n, sides int, iteration func(ctx context.Context, rng *rand.Rand, timed func(side int, call func() error))) []levelResult {
	res := make([]levelResult, sides)
	lat, ok := make([][]time.Duration, sides), make([][]bool, sides)
	for i := range res {
		res[i].Concurrency, lat[i], ok[i] = conc, make([]time.Duration, n), make([]bool, n)
	}
	var next atomic.Int64
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := time.Now()
	for w := range conc {
		rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(w)))
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < n && ctx.Err() == nil; i = int(next.Add(1) - 1) {
				iteration(ctx, rng, func(side int, call func() error) {
					t0 := time.Now()
					err := call()
					lat[side][i], ok[side][i] = time.Since(t0), err == nil
					if err != nil {
						mu.Lock()
						res[side].errs.add(err.Error())
						mu.Unlock()
					}
				})
			}
		})
	}
	wg.Wait()
	for i := range res {
		res[i].Seconds = time.Since(start).Seconds() // the sides share the wall time
		res[i].fill(lat[i], ok[i])
	}
	return res
}

// fill derives the counts and latency figures from the raw samples.
func (r *levelResult) fill(lat []time.Duration, ok []bool) {
	good := lat[:0:0]
	for i, d := range lat {
		if ok[i] {
			good = append(good, d)
		}
	}
	r.Errors = r.errs.count
	r.Requests = len(good) + r.Errors
	r.RPS = perSecond(r.Requests, r.Seconds)
	s := summarize(good)
	r.P50ms, r.P99ms, r.MeanMs, r.MaxMs = ms(s.P50), ms(s.P99), ms(s.Mean), ms(s.Max)
}

// serverRead returns an op that GETs a uniformly chosen recorded resource.
func serverRead(c *fhirClient, locations []string) op {
	return func(ctx context.Context, rng *rand.Rand) error {
		loc := locations[rng.IntN(len(locations))]
		status, body, err := c.do(ctx, http.MethodGet, "/"+loc, nil, false)
		if err != nil {
			return fmt.Errorf("GET %s: %w", loc, err)
		}
		if status != http.StatusOK {
			return fmt.Errorf("GET %s: HTTP %d: %s", loc, status, diagnostics(body))
		}
		return nil
	}
}

// errorLog counts errors and keeps the first few messages to print.
type errorLog struct {
	count int
	first []string
}

const keptErrors = 5

func (l *errorLog) add(msg string) {
	l.count++
	if len(l.first) < keptErrors {
		l.first = append(l.first, msg)
	}
}
