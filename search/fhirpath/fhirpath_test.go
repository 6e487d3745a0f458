package fhirpath

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const observation = `{"resourceType":"Observation","id":"o1",
	"contained":[{"resourceType":"Patient","id":"p"}],
	"status":"final",
	"code":{"coding":[{"system":"http://loinc.org","code":"8867-4"}],"text":"Heart rate"},
	"subject":{"reference":"Patient/123"},
	"performer":[{"reference":"Practitioner/9"},{"reference":"#p"},{"reference":"http://x.org/fhir/Organization/7/_history/2"},{"type":"RelatedPerson","identifier":{"value":"r"}}],
	"effectiveDateTime":"2020-01-02T10:00:00+01:00",
	"valueQuantity":{"value":72,"unit":"/min"},
	"component":[{"code":{"text":"a"},"valueString":"x"},{"code":{"text":"b"},"valueQuantity":{"value":1.50}}],
	"extension":[{"url":"http://e/1","valueBoolean":true},{"url":"http://e/2","valueCode":"c"}],
	"_status":{"extension":[{"url":"http://e/3","valueCode":"q"}]}}`

func decode(t *testing.T, s string) map[string]any {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader([]byte(s)))
	d.UseNumber()
	var m map[string]any
	require.NoError(t, d.Decode(&m))
	return m
}

// values renders a result as JSON texts, with the type where known.
func values(ns []Node) []string {
	out := []string{}
	for _, n := range ns {
		b, _ := json.Marshal(n.Value)
		s := string(b)
		if n.Type != "" {
			s = n.Type + ":" + s
		}
		out = append(out, s)
	}
	return out
}

func TestEvaluate(t *testing.T) {
	obs := decode(t, observation)
	tests := []struct {
		expr string
		want []string
	}{
		{"Observation.status", []string{`"final"`}},
		{"Patient.name", []string{}},
		{"Resource.id", []string{`"o1"`}},
		{"DomainResource.id", []string{`"o1"`}},
		{"Observation.code.coding.code", []string{`"8867-4"`}},
		{"Observation.code.coding.system | Observation.code.text", []string{`"http://loinc.org"`, `"Heart rate"`}},
		{"Observation.status | Observation.status", []string{`"final"`}},
		// choice types, in the spec's three spellings
		{"Observation.effective", []string{`dateTime:"2020-01-02T10:00:00+01:00"`}},
		{"(Observation.effective as dateTime)", []string{`dateTime:"2020-01-02T10:00:00+01:00"`}},
		{"Observation.effective.as(Period)", []string{}},
		{"Observation.effective.ofType(dateTime)", []string{`dateTime:"2020-01-02T10:00:00+01:00"`}},
		{"Observation.value.as(Quantity).value", []string{`72`}},
		{"Observation.value is Quantity", []string{`boolean:true`}},
		{"Observation.value is Age", []string{`boolean:false`}},
		{"Observation.component.value.ofType(Quantity)", []string{`Quantity:{"value":1.50}`}},
		{"Observation.component.value", []string{`string:"x"`, `Quantity:{"value":1.50}`}},
		// where, equality, indexing
		{"Observation.component.where(code.text = 'b').value", []string{`Quantity:{"value":1.50}`}},
		{"Observation.component.where(code.text != 'b').code.text", []string{`"a"`}},
		{"Observation.component[1].code.text", []string{`"b"`}},
		{"Observation.component.first().code.text", []string{`"a"`}},
		{"Observation.component.last().code.text", []string{`"b"`}},
		{"Observation.component.count()", []string{`integer:2`}},
		// resolve
		{"Observation.subject.where(resolve() is Patient)", []string{`{"reference":"Patient/123"}`}},
		{"Observation.performer.where(resolve() is Practitioner).reference", []string{`"Practitioner/9"`}},
		{"Observation.performer.where(resolve() is Patient).reference", []string{`"#p"`}},
		{"Observation.performer.where(resolve() is Organization).reference", []string{`"http://x.org/fhir/Organization/7/_history/2"`}},
		{"Observation.performer.where(resolve() is RelatedPerson).identifier.value", []string{`"r"`}},
		// extension(), exists(), boolean logic
		{"Observation.extension('http://e/2').value", []string{`code:"c"`}},
		{"Observation.extension.where(url = 'http://e/1').value", []string{`boolean:true`}},
		{"Observation.code.exists() and Observation.status = 'final'", []string{`boolean:true`}},
		{"Observation.issued.exists() or Observation.status != 'final'", []string{`boolean:false`}},
		{"Observation.issued.exists()", []string{`boolean:false`}},
		{"Observation.issued.empty()", []string{`boolean:true`}},
		{"Observation.component.exists(code.text = 'a')", []string{`boolean:true`}},
		{"Observation.code.exists().not()", []string{`boolean:false`}},
		{"Observation.issued = 'x'", []string{}},
		{"Observation.value.value = 72", []string{`boolean:true`}},
		{"Observation.value.value = 72.0", []string{`boolean:true`}},
		{"%resource.id", []string{`"o1"`}},
		{"Observation.component.where($this.code.text = 'a').code.text", []string{`"a"`}},
		{"Observation.`status`", []string{`"final"`}},
	}
	for _, tt := range tests {
		x, err := Compile(tt.expr)
		require.NoError(t, err, tt.expr)
		got, err := x.Evaluate(obs)
		require.NoError(t, err, tt.expr)
		assert.Equal(t, tt.want, values(got), tt.expr)
	}
}

func TestPatientDeceased(t *testing.T) {
	x, err := Compile("Patient.deceased.exists() and Patient.deceased != false")
	require.NoError(t, err)
	for body, want := range map[string][]string{
		`{"resourceType":"Patient"}`:                                 {`boolean:false`},
		`{"resourceType":"Patient","deceasedBoolean":false}`:         {`boolean:false`},
		`{"resourceType":"Patient","deceasedBoolean":true}`:          {`boolean:true`},
		`{"resourceType":"Patient","deceasedDateTime":"2020-01-01"}`: {`boolean:true`},
	} {
		got, err := x.Evaluate(decode(t, body))
		require.NoError(t, err)
		assert.Equal(t, want, values(got), body)
	}
}

func TestCompileErrors(t *testing.T) {
	for _, src := range []string{
		"Patient.name.frobnicate()", "Patient.name[", "Patient.name.where()", "Patient.(", "Patient.name 'x'",
		"Patient.name.ofType()", "%foo", "'unterminated", "Patient # x", "Patient.name.where(a, b)",
		"0.", "Patient.", "Patient.name.", "(", "1 +", "Patient.name.where(",
	} {
		_, err := Compile(src)
		assert.Error(t, err, src)
	}
}

func TestReferenceType(t *testing.T) {
	for ref, want := range map[string]string{
		"Patient/1": "Patient", "Patient/1/_history/2": "Patient", "http://h/fhir/Observation/x": "Observation",
		"#c": "", "urn:uuid:1234": "", "1": "", "": "", "http://h/fhir/patient/1": "",
	} {
		assert.Equal(t, want, ReferenceType(ref), ref)
	}
}
