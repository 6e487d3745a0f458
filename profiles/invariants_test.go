package profiles

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirserver/fhirserver/search/fhirpath"
)

// The invariants answered by a Go test before their FHIRPath (plainlyHeld)
// must be the specification's own expressions, or the test would never
// apply, and wherever the test says they hold their FHIRPath must say so
// too; where it does not, the FHIRPath decides.
func TestPlainlyHeldInvariantsHoldWhereTheirTestSays(t *testing.T) {
	d, err := R4()
	require.NoError(t, err)
	found := map[string]bool{}
	for _, typ := range []string{"Reference", "Observation", "Patient"} {
		sd := d.Base(typ)
		sd.tree()
		for _, e := range sd.byPath {
			for _, r := range e.rules {
				if h, ok := plainlyHeld[r.key]; ok {
					assert.Equal(t, h.expression, r.expression, r.key)
					found[r.key] = true
				}
			}
		}
	}
	for key := range plainlyHeld {
		assert.True(t, found[key], "%s is not in the definitions", key)
	}

	decode := func(s string) map[string]any {
		dec := json.NewDecoder(bytes.NewReader([]byte(s)))
		dec.UseNumber()
		var m map[string]any
		require.NoError(t, dec.Decode(&m))
		return m
	}
	root := decode(`{"resourceType":"Observation","contained":[{"resourceType":"Patient","id":"p"}]}`)
	tests := []struct {
		key, focus string
		held       bool // what the Go test says
		fhirpath   bool // what the FHIRPath says (true also when empty)
	}{
		{"dom-2", `{"resourceType":"Observation","status":"final"}`, true, true},
		{"dom-4", `{"resourceType":"Observation","meta":{"versionId":"1"}}`, true, true},
		{"dom-5", `{"resourceType":"Observation","id":"o"}`, true, true},
		{"dom-4", `{"resourceType":"Observation","contained":[{"resourceType":"Patient","meta":{"versionId":"2"}}]}`, false, false},
		{"dom-2", `{"resourceType":"Observation","contained":[{"resourceType":"Patient"}]}`, false, true},
		{"ref-1", `{"reference":"Patient/123"}`, true, true},
		{"ref-1", `{"reference":"urn:uuid:0b9f7b7e-8f1e-4d1a-9c35-6a2b0f1b2c3d"}`, true, true},
		{"ref-1", `{"display":"no reference"}`, true, true},
		{"ref-1", `{"_reference":{"extension":[{"url":"http://e","valueString":"x"}]}}`, true, true},
		{"ref-1", `{"reference":"#p"}`, false, true},
		{"ref-1", `{"reference":"#missing"}`, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.key+" "+tt.focus, func(t *testing.T) {
			h := plainlyHeld[tt.key]
			focus := decode(tt.focus)
			assert.Equal(t, tt.held, h.holds(focus), "the Go test")
			c := compileRule(h.expression)
			require.NoError(t, c.err)
			ok, empty, err := c.x.Check(focus, fhirpath.Env{Resource: root, RootResource: root})
			require.NoError(t, err)
			assert.Equal(t, tt.fhirpath, ok || empty, "the FHIRPath")
			if tt.held {
				assert.True(t, ok || empty, "held by the Go test, so by the FHIRPath")
			}
		})
	}
}
