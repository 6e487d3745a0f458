package profiles

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirserver/fhirserver/conformance/fixtures"
)

// The definitions know the same resource types as the rest of the server,
// and each type's smallest example passes its base definition.
func TestEveryResourceTypeHasAValidExample(t *testing.T) {
	d, err := R4()
	require.NoError(t, err)
	var defined []string
	for typ, e := range d.byType {
		// SubscriptionStatus comes with the package from R4B's backport.
		if e.Kind == "resource" && !d.Base(typ).Abstract && typ != "SubscriptionStatus" {
			defined = append(defined, typ)
		}
	}
	types := ResourceTypes()
	slices.Sort(defined)
	slices.Sort(types)
	assert.Equal(t, types, defined)
	for _, typ := range types {
		r := d.Validate(d.Example(typ, "x"), Options{})
		assert.Empty(t, append(r.Invalid, r.Unprocessable...), typ)
	}
}

// Every US Core reference patient conforms to the profiles it claims, in
// some version held: patient 908 is US Core 8.0.0 data (gender optional,
// us-core-sex a Coding), which 6.1.0 alone refused.
func TestUSCoreReferencePatientsConform(t *testing.T) {
	d, err := R4()
	require.NoError(t, err)
	var got []string
	checked := 0
	for _, f := range fixtures.Need(t) {
		if filepath.Base(filepath.Dir(f)) != "us-core" {
			continue
		}
		body, err := os.ReadFile(f)
		require.NoError(t, err)
		root, err := decodeJSON(body)
		require.NoError(t, err)
		entries, _ := root.(map[string]any)["entry"].([]any)
		for _, e := range entries {
			obj, _ := e.(map[string]any)["resource"].(map[string]any)
			if obj == nil {
				continue
			}
			checked++
			r := d.Validate(obj, Options{})
			for _, is := range append(r.Invalid, r.Unprocessable...) {
				got = append(got, fmt.Sprintf("%s %s/%s: %s at %s: %s", filepath.Base(f), obj["resourceType"], obj["id"], is.Code, is.Expression[0], is.Diagnostics))
			}
		}
	}
	assert.Greater(t, checked, 500)
	assert.Empty(t, got)
}

// Every invariant of every definition held here compiles: none is left
// unevaluated (NotEvaluated would list it, and the validator warn of it).
func TestEveryInvariantIsEvaluated(t *testing.T) {
	d, err := R4()
	require.NoError(t, err)
	urls := make([]string, 0, len(d.index))
	for url := range d.index {
		urls = append(urls, url)
	}
	assert.Greater(t, len(urls), 600)
	assert.Empty(t, d.NotEvaluated(urls...))
}
