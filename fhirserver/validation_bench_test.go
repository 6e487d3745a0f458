package fhirserver_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fhirserver/fhirserver/conformance/fixtures"
	"github.com/fhirserver/fhirserver/profiles"
)

// BenchmarkValidationOverhead measures what validation adds to ingest: two
// servers over fresh databases, one validating every resource as the
// server does (the R4 definitions, invariants, the profiles each claims)
// and one given a validator that only decodes, injected here (the server
// has no switch that turns validation off). Each Synthea patient bundle of
// synthea-blaze goes to both, in random order, BENCH_VALIDATION_COPIES
// times (default 2); it reports resources/s for both and the time
// validation adds (goal: under 25 %). Run with make bench-validation.
func BenchmarkValidationOverhead(b *testing.B) {
	root := fixtures.Root()
	if root == "" {
		b.Skip("no fixtures: set FHIR_FIXTURES")
	}
	files, err := filepath.Glob(filepath.Join(root, "synthea-blaze", "*.json"))
	if err != nil || len(files) == 0 {
		b.Skip("no synthea-blaze fixtures")
	}
	copies := 2
	if n, err := fmt.Sscan(os.Getenv("BENCH_VALIDATION_COPIES"), &copies); n != 1 || err != nil {
		copies = 2
	}
	validating := newServerWith(b, 15*time.Minute, nil)
	decoding := newServerWith(b, 15*time.Minute, nil)
	decoding.res.SetValidator(profiles.DecodeOnly)
	sides := []*testServer{validating, decoding}
	var bodies []string
	resources := 0
	for _, f := range files {
		body, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		if strings.HasPrefix(filepath.Base(f), "0-") {
			for _, ts := range sides { // the providers the patients refer to: untimed
				ts.res.SetValidation(profiles.Options{Lenient: true})
				if r := ts.do("POST", "", fhirJSON, string(body)); r.Status != 200 {
					b.Fatalf("%s: %d %.300s", f, r.Status, r.Body)
				}
			}
			continue
		}
		bodies = append(bodies, string(body))
		resources += strings.Count(string(body), `"request"`)
	}
	b.ResetTimer()
	for range b.N {
		spent := make([]time.Duration, 2)
		for range copies {
			for _, body := range bodies {
				order := []int{0, 1}
				if rand.IntN(2) == 0 {
					order = []int{1, 0}
				}
				for _, side := range order {
					start := time.Now()
					r := sides[side].do("POST", "", fhirJSON, body)
					spent[side] += time.Since(start)
					if r.Status != 200 {
						b.Fatalf("side %d: %d %.300s", side, r.Status, r.Body)
					}
				}
			}
		}
		n := float64(resources * copies)
		v, d := n/spent[0].Seconds(), n/spent[1].Seconds()
		added := 100 * (spent[0].Seconds()/spent[1].Seconds() - 1)
		b.Logf("%d resources per side: validating %.0f resources/s, decoding only %.0f resources/s: validation adds %+.1f %% to ingest time (goal < 25 %%)", resources*copies, v, d, added)
		b.ReportMetric(added, "%added")
		b.ReportMetric(v, "validated-res/s")
		b.ReportMetric(d, "decoded-res/s")
	}
}
