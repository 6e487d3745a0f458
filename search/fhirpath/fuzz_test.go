package fhirpath

import (
	"encoding/json"
	"testing"
)

// FuzzCompile feeds the compiler and evaluator arbitrary expressions: they
// answer an error or a result, never a panic. The seeds are expressions of
// every shape the specification's invariants use (testdata/fuzz holds the
// crashers found, as regression inputs).
func FuzzCompile(f *testing.F) {
	for _, seed := range []string{
		"Patient.name.where(use = 'official').family", "0.", "Observation.value.ofType(Quantity).value > 5",
		"(component.value.exists() or value.exists()) implies code.exists()", "%resource.contained.where(id = 'x')",
		"name.given.first() & ' ' & name.family", "extension('http://x').value as Coding", "today() - 1 year",
		"iif(active, 'a', 'b')", "Patient.birthDate.toString().length() >= 8", "1 | 2 | 3", "'a' ~ 'A'",
		"descendants().where($this is Reference).reference.startsWith('#')", "@2020-01-01T10:00:00Z < now()",
	} {
		f.Add(seed)
	}
	var patient map[string]any
	_ = json.Unmarshal([]byte(`{"resourceType":"Patient","id":"p","active":true,"birthDate":"1970-01-01",
		"name":[{"use":"official","family":"Doe","given":["Jo","Ann"]}],
		"extension":[{"url":"http://x","valueCoding":{"system":"s","code":"c"}}],
		"contained":[{"resourceType":"Observation","id":"x","status":"final","code":{"text":"t"},"valueQuantity":{"value":6}}]}`), &patient)
	f.Fuzz(func(t *testing.T, src string) {
		x, err := Compile(src)
		if err != nil {
			return
		}
		_, _ = x.EvaluateOn(patient, Env{Resource: patient, RootResource: patient})
	})
}
