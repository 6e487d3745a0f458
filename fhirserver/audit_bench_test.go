package fhirserver_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/fhirserver/fhirserver/fhirserver"
)

// noAudit is the benchmark's own no-op sink: the server cannot be built
// without an Auditor, and offers no switch to turn it off.
type noAudit struct{}

func (noAudit) Record(context.Context, []byte) error { return nil }

// BenchmarkAuditOverhead measures what auditing adds to reads and searches:
// two servers over the same data, one with the real audit log (each
// response waits for its record's commit) and one with a no-op sink, asked
// the same requests in random order within one run, at concurrency 1, 16
// and 64. It logs p50 and p99 of both and reports the added percentage
// (goal: under 10 % at p50, under 20 % at p99). Run with
// make bench-audit.
func BenchmarkAuditOverhead(b *testing.B) {
	audited := newServerWith(b, 15*time.Minute, nil)
	plain := newServerWith(b, 15*time.Minute, func(fhirserver.Auditor) fhirserver.Auditor { return noAudit{} })
	const patients = 300
	for _, ts := range []*testServer{audited, plain} {
		for i := 0; i < patients; i += 50 {
			var entries []string
			for p := i; p < i+50; p++ {
				entries = append(entries, fmt.Sprintf(`{"request":{"method":"PUT","url":"Patient/p%d"},"resource":{"resourceType":"Patient","id":"p%d","name":[{"family":"Family%d"}],"gender":"female"}}`, p, p, p))
				for o := range 4 {
					entries = append(entries, fmt.Sprintf(`{"request":{"method":"PUT","url":"Observation/o%d-%d"},"resource":{"resourceType":"Observation","id":"o%d-%d","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"8867-4"}]},"subject":{"reference":"Patient/p%d"},"valueQuantity":{"value":%d}}}`, p, o, p, o, p, 60+o))
				}
			}
			r := ts.do("POST", "", fhirJSON, `{"resourceType":"Bundle","type":"transaction","entry":[`+strings.Join(entries, ",")+`]}`)
			if r.Status != 200 {
				b.Fatalf("load: %d %s", r.Status, r.Body)
			}
		}
	}
	kinds := map[string]func(p int) string{
		"read":   func(p int) string { return fmt.Sprintf("/Patient/p%d", p) },
		"search": func(p int) string { return fmt.Sprintf("/Observation?patient=p%d&code=http://loinc.org|8867-4", p) },
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 128}}
	b.ResetTimer()
	for range b.N {
		commit50, commit99 := durableCommit(b, audited.owner, 2000)
		b.Logf("floor: a one-row INSERT and its commit, alone on a connection: p50 %.2f ms p99 %.2f ms", ms(commit50), ms(commit99))
		for _, kind := range []string{"read", "search"} {
			for _, conc := range []int{1, 16, 64} {
				lat := measureSides(b, client, []*testServer{audited, plain}, kinds[kind], patients, conc, 2000)
				a50, a99 := percentile(lat[0], 50), percentile(lat[0], 99)
				p50, p99 := percentile(lat[1], 50), percentile(lat[1], 99)
				b.Logf("%-6s c=%-2d  audited p50 %6.2f ms p99 %7.2f ms   no-op p50 %6.2f ms p99 %7.2f ms   added p50 %+5.1f %% p99 %+5.1f %%",
					kind, conc, ms(a50), ms(a99), ms(p50), ms(p99), 100*(ms(a50)/ms(p50)-1), 100*(ms(a99)/ms(p99)-1))
				b.ReportMetric(100*(ms(a50)/ms(p50)-1), fmt.Sprintf("%%p50-%s-c%d", kind, conc))
				b.ReportMetric(100*(ms(a99)/ms(p99)-1), fmt.Sprintf("%%p99-%s-c%d", kind, conc))
				if conc == 1 {
					b.Logf("%-6s c=1   a durable commit alone is %+.1f %% of the no-op p50", kind, 100*ms(commit50)/ms(p50))
				}
			}
		}
	}
}

// durableCommit measures the least an audit record can cost a response
// that waits for it: one round trip carrying a one-row INSERT and the
// commit's WAL flush.
func durableCommit(b *testing.B, url string, n int) (p50, p99 time.Duration) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	// Not a temporary table: those are not WAL-logged, so their commits
	// do not wait for a flush.
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS bench_durable (n int)`); err != nil {
		b.Fatal(err)
	}
	lat := make([]time.Duration, 0, n)
	for i := range n {
		start := time.Now()
		if _, err := conn.Exec(ctx, `INSERT INTO bench_durable VALUES ($1)`, i); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	return percentile(lat, 50), percentile(lat, 99)
}

// measureSides sends n requests to each server from conc workers, each
// request to a side picked at random, and returns each side's latencies.
func measureSides(b *testing.B, client *http.Client, sides []*testServer, path func(int) string, patients, conc, n int) [][]time.Duration {
	lat := make([][]time.Duration, len(sides))
	var mu sync.Mutex
	work := make(chan int, n*len(sides))
	for i := range n * len(sides) {
		work <- i % len(sides)
	}
	close(work)
	var wg sync.WaitGroup
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for side := range work {
				if rand.IntN(2) == 0 {
					side = 1 - side
				}
				ts := sides[side]
				req, _ := http.NewRequest("GET", ts.URL+path(rand.IntN(patients)), nil)
				req.Header.Set("Authorization", "Bearer "+ts.token)
				start := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					b.Error(err)
					return
				}
				resp.Body.Close()
				d := time.Since(start)
				if resp.StatusCode != 200 {
					b.Errorf("status %d", resp.StatusCode)
				}
				mu.Lock()
				lat[side] = append(lat[side], d)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return lat
}

func percentile(ds []time.Duration, p int) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	return s[min(len(s)-1, len(s)*p/100)]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
