package profiles

import (
	"maps"
	"os"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirserver/fhirserver/conformance/fixtures"
)

// Walking only a profile's active elements reaches the same verdicts as
// walking its whole snapshot: on every fixture resource, and on up to
// twenty of each type with each member, or each member of a member,
// removed. Where the base walk finds the resource valid, the reports are
// identical; where it does not, so are its errors (a count the base also
// requires is then reported once, by the base walk).
func TestInertProfileElementsChangeNoVerdict(t *testing.T) {
	d, err := R4()
	require.NoError(t, err)
	files := fixtures.Files()
	if len(files) == 0 {
		t.Skip("no fixtures")
	}
	defer func() { pruneInert = true }()
	validate := func(obj map[string]any, prune bool) Report {
		pruneInert = prune
		return d.Validate(obj, Options{})
	}
	compare := func(name string, obj map[string]any) {
		whole, pruned := validate(obj, false), validate(obj, true)
		if len(whole.Invalid) == 0 {
			assert.Equal(t, whole, pruned, name)
			return
		}
		assert.Equal(t, whole.Invalid, pruned.Invalid, name)
	}
	mutated := map[string]int{}
	checked := 0
	for _, f := range files {
		body, err := os.ReadFile(f)
		require.NoError(t, err)
		root, err := decodeJSON(body)
		require.NoError(t, err)
		for _, obj := range resourcesIn(root) {
			checked++
			typ, _ := obj["resourceType"].(string)
			compare(typ, obj)
			if mutated[typ] >= 20 {
				continue
			}
			mutated[typ]++
			for _, key := range slices.Sorted(maps.Keys(obj)) {
				if key == "resourceType" {
					continue
				}
				compare(typ+" without "+key, without(obj, key))
				inner, ok := obj[key].(map[string]any)
				if !ok {
					continue
				}
				for _, k := range slices.Sorted(maps.Keys(inner)) {
					copied := maps.Clone(obj)
					copied[key] = without(inner, k)
					compare(typ+" without "+key+"."+k, copied)
				}
			}
		}
	}
	assert.Greater(t, checked, 10_000)
	assert.Greater(t, len(mutated), 20, "resource types mutated")
}

func resourcesIn(root any) []map[string]any {
	obj, _ := root.(map[string]any)
	if obj["resourceType"] != "Bundle" {
		return []map[string]any{obj}
	}
	var out []map[string]any
	entries, _ := obj["entry"].([]any)
	for _, e := range entries {
		if r, ok := e.(map[string]any)["resource"].(map[string]any); ok {
			out = append(out, r)
		}
	}
	return out
}

func without(obj map[string]any, key string) map[string]any {
	out := maps.Clone(obj)
	delete(out, key)
	return out
}
