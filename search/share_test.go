package search

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirserver/fhirserver/conformance/fixtures"
	"github.com/fhirserver/fhirserver/storage"
)

// The parameters answered by others' rows (combo-code-value-quantity by
// code-value-quantity and component-code-value-quantity, ...) are not
// indexed themselves: for every resource, the rows of the parameters that
// answer one must be exactly what its own expression selects, or a search
// by it would find too much or too little.
func TestSharedRowsHoldWhatTheirParameterSelects(t *testing.T) {
	reg := registry(t)
	resources := sharedTestResources(t)
	checked := map[string]int{}
	for _, res := range resources {
		typ, _ := res["resourceType"].(string)
		all := reg.Extract(typ, res)
		for code, p := range reg.Params(typ) {
			if p.indexAs == nil || p.targetType != "" {
				continue
			}
			var own storage.Index
			if p.Type == "composite" {
				own.Composites = reg.composites(p, res, nil)
			} else {
				own = reg.ExtractParam(typ, code, res)
			}
			want := renamedLines(own, nil, code)
			got := renamedLines(all, p.indexAs, code)
			if len(want) > 0 {
				checked[typ+"."+code]++
			}
			assert.Equal(t, want, got, "%s %v: %s", typ, res["id"], code)
		}
	}
	for _, code := range []string{"combo-code", "combo-value-quantity", "combo-code-value-quantity", "combo-code-value-concept", "combo-value-concept"} {
		assert.Positive(t, checked["Observation."+code], "no resource had a value of %s", code)
	}
}

// sharedTestResources are a component-rich Observation and the resources
// of two Synthea patients.
func sharedTestResources(t *testing.T) []map[string]any {
	out := []map[string]any{decode(t, `{"resourceType":"Observation","id":"bp","status":"final",
		"code":{"coding":[{"system":"http://loinc.org","code":"85354-9"}]},
		"component":[
		  {"code":{"coding":[{"system":"http://loinc.org","code":"8480-6"}]},"valueQuantity":{"value":120,"system":"http://unitsofmeasure.org","code":"mm[Hg]"}},
		  {"code":{"coding":[{"system":"http://loinc.org","code":"8462-4"}]},"valueQuantity":{"value":80,"system":"http://unitsofmeasure.org","code":"mm[Hg]"}},
		  {"code":{"coding":[{"system":"urn:s","code":"posture"}]},"valueCodeableConcept":{"coding":[{"system":"urn:p","code":"sitting"}]},
		   "dataAbsentReason":{"coding":[{"system":"urn:d","code":"x"}]}}],
		"valueCodeableConcept":{"coding":[{"system":"urn:v","code":"v1"},{"system":"urn:v","code":"v2"}]}}`)}
	root := fixtures.Root()
	if root == "" {
		t.Log("no fixtures: the handwritten Observation only")
		return out
	}
	files, _ := filepath.Glob(filepath.Join(root, "synthea-blaze", "[1-9a-f]*.json"))
	slices.Sort(files)
	require.NotEmpty(t, files)
	for _, f := range files[:min(2, len(files))] {
		body, err := os.ReadFile(f)
		require.NoError(t, err)
		var b struct {
			Entry []struct{ Resource json.RawMessage }
		}
		require.NoError(t, json.Unmarshal(body, &b))
		for _, e := range b.Entry {
			out = append(out, decode(t, string(e.Resource)))
		}
	}
	return out
}

// renamedLines renders the entries of codes (all when nil) as if they
// were code's, one line each, sorted and without repeats.
func renamedLines(ix storage.Index, codes []string, code string) []string {
	keep := func(param string) bool { return codes == nil || slices.Contains(codes, param) }
	kept := storage.Index{
		Strings:    renamed(ix.Strings, keep, code, func(e *storage.StringEntry) *string { return &e.Param }),
		Tokens:     renamed(ix.Tokens, keep, code, func(e *storage.TokenEntry) *string { return &e.Param }),
		References: renamed(ix.References, keep, code, func(e *storage.ReferenceEntry) *string { return &e.Param }),
		Dates:      renamed(ix.Dates, keep, code, func(e *storage.DateEntry) *string { return &e.Param }),
		Numbers:    renamed(ix.Numbers, keep, code, func(e *storage.NumberEntry) *string { return &e.Param }),
		Quantities: renamed(ix.Quantities, keep, code, func(e *storage.QuantityEntry) *string { return &e.Param }),
		URIs:       renamed(ix.URIs, keep, code, func(e *storage.URIEntry) *string { return &e.Param }),
	}
	lines := rendered(kept)
	for _, e := range renamed(ix.Composites, keep, code, func(e *storage.CompositeEntry) *string { return &e.Param }) {
		lines = append(lines, fmt.Sprintf("composite %s %s|%s $ %s|%s %s %s %s %s %s %s", e.Param, str(e.C1System), str(e.C1Code),
			str(e.C2System), str(e.C2Code), str(e.C2Text), str(e.C2Unit), str(e.C2Value), timeOf(e.C2Lo), timeOf(e.C2Hi), str(e.C3Value)))
	}
	slices.Sort(lines)
	return slices.Compact(lines)
}

// renamed keeps the entries whose parameter keep accepts, named code.
func renamed[E any](entries []E, keep func(string) bool, code string, param func(*E) *string) []E {
	var out []E
	for _, e := range entries {
		if p := param(&e); keep(*p) {
			*p = code
			out = append(out, e)
		}
	}
	return out
}

func timeOf(t *time.Time) string {
	if t == nil {
		return "<nil>"
	}
	return t.Format(time.RFC3339Nano)
}
