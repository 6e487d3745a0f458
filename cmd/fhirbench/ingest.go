package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// ingestJob is one bundle body to post.
type ingestJob struct {
	name    string // file name and copy number, for messages
	body    []byte
	entries int
}

// ingestPlan is everything to load: provider bundles first, in order, then
// the warm-up copies of the other bundles, then the timed copies.
type ingestPlan struct {
	providers []ingestJob
	warmup    []ingestJob
	bundles   []ingestJob
}

// prepareIngest builds all bodies before the clock starts, so that the id
// rewriting is not counted against the server.
func prepareIngest(fixtures []fixture, warmCopies, copies int) (ingestPlan, error) {
	var p ingestPlan
	for i := range fixtures {
		if f := &fixtures[i]; f.provider {
			p.providers = append(p.providers, ingestJob{name: filepath.Base(f.path), body: f.data, entries: len(f.entries)})
		}
	}
	var err error
	if p.warmup, err = copyBundles(fixtures, warmCopies, "warm-up copy"); err == nil {
		p.bundles, err = copyBundles(fixtures, copies, "copy")
	}
	return p, err
}

// copyBundles gives every non-provider bundle fresh ids, n times over.
func copyBundles(fixtures []fixture, n int, label string) ([]ingestJob, error) {
	var jobs []ingestJob
	for k := 1; k <= n; k++ {
		for i := range fixtures {
			f := &fixtures[i]
			if f.provider {
				continue
			}
			body, err := f.rewrite(newUUID)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", f.path, err)
			}
			name := fmt.Sprintf("%s %s %d", filepath.Base(f.path), label, k)
			jobs = append(jobs, ingestJob{name: name, body: body, entries: len(f.entries)})
		}
	}
	return jobs, nil
}

// ingestResult is what the ingest phase measured and collected.
type ingestResult struct {
	Bundles       int     `json:"bundles"`
	FailedBundles int     `json:"failed_bundles"`
	Resources     int     `json:"resources"`
	Seconds       float64 `json:"seconds"`
	Rate          float64 `json:"resources_per_second"`
	WarmupSeconds float64 `json:"warmup_seconds"` // providers and warm-up copies, untimed
	locations     []string
	errs          errorLog
}

// ingestAll posts the providers one by one (patients refer to them by
// conditional references, and the second may depend on the first), then the
// warm-up and timed bundles with the given number of workers. Only the timed
// bundles count in the rate: the providers and the warm-up open connections,
// grow the heap and fill caches, a start-up cost the floor does not pay
// either. Every location is kept for the read test. With a sampler, the
// warm-up and the timed bundles are memory phases of their own. beforeTimed,
// when not nil, runs between the warm-up and the timed bundles.
func ingestAll(ctx context.Context, c *fhirClient, plan ingestPlan, workers int, mem *rssSampler, beforeTimed func()) *ingestResult {
	res := &ingestResult{}
	var mu sync.Mutex
	timed := false
	post := func(job ingestJob) {
		locs, n, err := postBundle(ctx, c, job)
		mu.Lock()
		defer mu.Unlock()
		if timed {
			res.Bundles++
			res.Resources += n
		}
		res.locations = append(res.locations, locs...)
		if err != nil {
			res.FailedBundles++
			res.errs.add(fmt.Sprintf("bundle %s: %v", job.name, err))
		}
	}
	warm := time.Now()
	mem.phase("ingest warm-up (providers, warm-up copies)", func() {
		for _, job := range plan.providers {
			post(job)
		}
		forEach(ctx, plan.warmup, workers, post)
	})
	res.WarmupSeconds = time.Since(warm).Seconds()
	if beforeTimed != nil {
		beforeTimed()
	}
	timed = true // forEach has returned: no post is running
	start := time.Now()
	mem.phase("ingest", func() { forEach(ctx, plan.bundles, workers, post) })
	res.Seconds = time.Since(start).Seconds()
	res.Rate = perSecond(res.Resources, res.Seconds)
	return res
}

// forEach runs fn over items with a fixed number of workers and stops
// handing out work once ctx is done.
func forEach[T any](ctx context.Context, items []T, workers int, fn func(T)) {
	ch := make(chan T)
	var wg sync.WaitGroup
	for range max(workers, 1) {
		wg.Go(func() {
			for it := range ch {
				fn(it)
			}
		})
	}
	for _, it := range items {
		if ctx.Err() != nil {
			break
		}
		ch <- it
	}
	close(ch)
	wg.Wait()
}

// bundleResponse is the part of a transaction-response or batch-response read.
type bundleResponse struct {
	ResourceType string `json:"resourceType"`
	Type         string `json:"type"`
	Entry        []struct {
		Response struct {
			Status   string           `json:"status"`
			Location string           `json:"location"`
			Outcome  operationOutcome `json:"outcome"`
		} `json:"response"`
	} `json:"entry"`
}

// postBundle posts one bundle and returns the Type/id of every created or
// updated resource and how many entries succeeded.
func postBundle(ctx context.Context, c *fhirClient, job ingestJob) ([]string, int, error) {
	status, body, err := c.do(ctx, http.MethodPost, "", job.body, true)
	if err != nil {
		return nil, 0, err
	}
	if status != http.StatusOK {
		return nil, 0, fmt.Errorf("HTTP %d: %s", status, diagnostics(body))
	}
	var br bundleResponse
	if err := json.Unmarshal(body, &br); err != nil {
		return nil, 0, fmt.Errorf("response is not JSON: %w", err)
	}
	if br.ResourceType != "Bundle" || (br.Type != "transaction-response" && br.Type != "batch-response") {
		return nil, 0, fmt.Errorf("response is %s %q, want a transaction-response or batch-response Bundle", br.ResourceType, br.Type)
	}
	return readResponseEntries(br, job.entries)
}

// readResponseEntries counts the successful entries and collects their
// locations; a batch can fail entry by entry while the HTTP status is 200.
func readResponseEntries(br bundleResponse, want int) ([]string, int, error) {
	var locs, failed []string
	ok := 0
	for i, e := range br.Entry {
		if !strings.HasPrefix(e.Response.Status, "2") {
			failed = append(failed, fmt.Sprintf("entry %d: %s %s", i, e.Response.Status, outcomeText(e.Response.Outcome)))
			continue
		}
		ok++
		if id, good := typeID(e.Response.Location); good {
			locs = append(locs, id)
		}
	}
	switch {
	case len(failed) > 0:
		return locs, ok, fmt.Errorf("%d of %d entries failed, first: %s", len(failed), len(br.Entry), failed[0])
	case len(br.Entry) != want:
		return locs, ok, fmt.Errorf("response has %d entries for %d sent", len(br.Entry), want)
	}
	return locs, ok, nil
}

// typeID turns a location such as "Patient/abc/_history/1" or
// "http://host/fhir/Patient/abc" into "Patient/abc".
func typeID(location string) (string, bool) {
	u, err := url.Parse(location)
	if err != nil || location == "" {
		return "", false
	}
	segs := strings.FieldsFunc(u.Path, func(r rune) bool { return r == '/' })
	for i, s := range segs {
		if s == "_history" {
			segs = segs[:i]
			break
		}
	}
	if len(segs) < 2 {
		return "", false
	}
	key := segs[len(segs)-2] + "/" + segs[len(segs)-1]
	return key, localRef.MatchString(key)
}
