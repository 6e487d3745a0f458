package resources

import (
	"testing"

	"github.com/fhirserver/fhirserver/profiles"
)

// No JSON Patch that decodePatch lets through makes the library panic:
// a panic there once dropped the connection without an answer. Every
// refusal, and the check of what a patch produces, is a client error.
func FuzzPatch(f *testing.F) {
	for _, s := range []string{
		`[{"op":"test","path":"","value":{}}]`, `[{"op":"test","path":""}]`, `[{"op":"add","path":"","value":1}]`,
		`[{"op":"replace","path":"/name/5","value":1}]`, `[{"op":"move","from":"/name","path":"/name/0"}]`,
		`[{"op":"copy","from":"","path":"/x"}]`, `[{"op":"remove","path":"/name/-1"}]`, `[{"op":"add","path":"/name/-","value":null}]`,
		`[{"op":"replace","path":"","value":[]}]`, `[{"op":"test","path":"/name/0/given","value":null}]`,
		`[{"op":"add","path":"/name/0/family","value":"a\u0000b"}]`, `[{"op":"add","path":"/x\u0000","value":1}]`,
	} {
		f.Add([]byte(s))
	}
	doc := []byte(`{"resourceType":"Patient","id":"p","name":[{"given":["a","b"]},{"family":"f"}],"active":true}`)
	s := &Service{}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := decodePatch(data)
		if !clientError(t, data, err) {
			return
		}
		patched, err := s.applyPatch(p, doc)
		if !clientError(t, data, err) {
			return
		}
		// what the patch path writes is checked as a body sent whole
		_, err = profiles.Parse(patched)
		clientError(t, data, err)
	})
}
