package profiles

import (
	"os"
	"slices"
	"testing"
	"time"

	"github.com/fhirserver/fhirserver/conformance/fixtures"
)

// BenchmarkValidate measures validation per resource, by type, over every
// fixture resource: decoding apart, the base definition, invariants and
// the profiles each claims. It reports ns per resource overall and logs
// the ten costliest types. make bench-validation runs it with the ingest
// comparison.
func BenchmarkValidate(b *testing.B) {
	d, err := R4()
	if err != nil {
		b.Fatal(err)
	}
	var all []map[string]any
	for _, f := range fixtures.Need(b) {
		body, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		root, err := decodeJSON(body)
		if err != nil {
			b.Fatal(err)
		}
		entries, _ := root.(map[string]any)["entry"].([]any)
		for _, e := range entries {
			if obj, ok := e.(map[string]any)["resource"].(map[string]any); ok {
				all = append(all, obj)
			}
		}
	}
	byType := map[string]time.Duration{}
	count := map[string]int{}
	for _, obj := range all { // warm the compiled definitions
		d.Validate(obj, Options{Lenient: true})
	}
	b.ResetTimer()
	for range b.N {
		for _, obj := range all {
			start := time.Now()
			d.Validate(obj, Options{Lenient: true})
			typ := obj["resourceType"].(string)
			byType[typ] += time.Since(start)
			count[typ]++
		}
	}
	b.StopTimer()
	var total time.Duration
	types := make([]string, 0, len(byType))
	for t, d := range byType {
		types = append(types, t)
		total += d
	}
	slices.SortFunc(types, func(x, y string) int {
		return int(byType[y]/time.Duration(count[y]) - byType[x]/time.Duration(count[x]))
	})
	for _, t := range types[:min(10, len(types))] {
		b.Logf("%-24s %8.1f µs per resource (%d resources)", t, float64(byType[t].Microseconds())/float64(count[t]), count[t]/b.N)
	}
	n := 0
	for _, c := range count {
		n += c
	}
	b.ReportMetric(float64(total.Nanoseconds())/float64(n), "ns/resource")
	b.ReportMetric(float64(len(all)), "resources")
}
