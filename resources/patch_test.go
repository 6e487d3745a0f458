package resources

import (
	"testing"
)

// No JSON Patch that decodePatch lets through makes the library panic:
// a panic there once dropped the connection without an answer.
func FuzzPatch(f *testing.F) {
	for _, s := range []string{
		`[{"op":"test","path":"","value":{}}]`, `[{"op":"test","path":""}]`, `[{"op":"add","path":"","value":1}]`,
		`[{"op":"replace","path":"/name/5","value":1}]`, `[{"op":"move","from":"/name","path":"/name/0"}]`,
		`[{"op":"copy","from":"","path":"/x"}]`, `[{"op":"remove","path":"/name/-1"}]`, `[{"op":"add","path":"/name/-","value":null}]`,
		`[{"op":"replace","path":"","value":[]}]`, `[{"op":"test","path":"/name/0/given","value":null}]`,
	} {
		f.Add([]byte(s))
	}
	doc := []byte(`{"resourceType":"Patient","id":"p","name":[{"given":["a","b"]},{"family":"f"}],"active":true}`)
	s := &Service{}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := decodePatch(data)
		if err != nil {
			return
		}
		_, _ = s.applyPatch(p, doc)
	})
}
