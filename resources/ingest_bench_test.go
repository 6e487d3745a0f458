package resources

import (
	"context"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/fhirserver/fhirserver/conformance/fixtures"
	"github.com/fhirserver/fhirserver/profiles"
)

// BenchmarkIngestCPU is the server's own share of ingesting the fixture
// transaction Bundles, without the database: decoding and validating the
// body (as a Bundle write does), reading its entries, settling ids,
// rewriting references between entries, stamping and encoding each
// resource and extracting its search index rows. Conditional references
// resolve to a fixed id, as the database would answer them. It reports ns
// per resource; with -cpuprofile it is where the server's ingest CPU goes.
func BenchmarkIngestCPU(b *testing.B) {
	var bodies [][]byte
	for _, f := range fixtures.Need(b) {
		if !strings.Contains(f, "synthea") {
			continue
		}
		body, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		bodies = append(bodies, body)
	}
	if len(bodies) == 0 {
		b.Skip("no synthea fixtures")
	}
	s := New(nil, nil)
	s.SetValidation(profiles.Options{Lenient: true})
	ctx := context.Background()
	now := time.Now()
	ingest := func(body []byte) int {
		res, err := s.parse(body)
		if err != nil {
			b.Fatal(err)
		}
		_, entries, err := parseBundle(res, "http://example.org/fhir")
		if err != nil {
			b.Fatal(err)
		}
		refs := map[string]string{}
		for _, e := range entries {
			if e.method == http.MethodPost {
				e.target.ID = newID()
			}
			if e.fullURL != "" && e.target.ID != "" {
				refs[e.fullURL] = e.target.Type + "/" + e.target.ID
			}
		}
		r := &rewriter{refs: refs, resolved: map[string]string{}}
		for _, e := range entries {
			if e.res == nil {
				continue
			}
			fakeConditionals(r, e.res.Object)
			if err := r.walk(ctx, e.res.Object); err != nil {
				b.Fatal(err)
			}
			if _, err := stamp(e.res.Object, e.target.ID, 1, now); err != nil {
				b.Fatal(err)
			}
			_ = s.search.Extract(e.target.Type, e.res.Object)
		}
		return len(entries)
	}
	var objs []map[string]any     // decoded resources, for the parts alone
	for _, body := range bodies { // warm the compiled definitions
		ingest(body)
		res, _ := s.parse(body)
		for _, e := range res.Object["entry"].([]any) {
			objs = append(objs, e.(map[string]any)["resource"].(map[string]any))
		}
	}
	b.Run("all", func(b *testing.B) {
		n := 0
		for range b.N {
			for _, body := range bodies {
				n += ingest(body)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/resource")
	})
	b.Run("validate", func(b *testing.B) {
		for range b.N {
			for _, body := range bodies {
				if _, err := s.parse(body); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(objs)), "ns/resource")
	})
	b.Run("extract", func(b *testing.B) {
		for range b.N {
			for _, obj := range objs {
				_ = s.search.Extract(obj["resourceType"].(string), obj)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(objs)), "ns/resource")
	})
}

// fakeConditionals answers the conditional references in v as the
// database would, with one id each.
func fakeConditionals(r *rewriter, v any) {
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			if s, ok := val.(string); ok && k == "reference" {
				if typ, _, ok := strings.Cut(s, "?"); ok {
					r.resolved[s] = typ + "/fixed"
				}
				continue
			}
			fakeConditionals(r, val)
		}
	case []any:
		for _, item := range x {
			fakeConditionals(r, item)
		}
	}
}
