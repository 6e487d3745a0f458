package search

import (
	"bytes"
	"encoding/json"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirserver/fhirserver/storage"
)

func decode(t *testing.T, s string) map[string]any {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader([]byte(s)))
	d.UseNumber()
	var m map[string]any
	require.NoError(t, d.Decode(&m))
	return m
}

func registry(t *testing.T) *Registry {
	t.Helper()
	r, err := R4()
	require.NoError(t, err)
	return r
}

func str(p *string) string {
	if p == nil {
		return "<nil>"
	}
	return *p
}

// rendered flattens an Index into sorted lines, one per entry.
func rendered(ix storage.Index) []string {
	var out []string
	for _, e := range ix.Strings {
		out = append(out, "string "+e.Param+" "+e.Value+" "+e.Exact)
	}
	for _, e := range ix.Tokens {
		out = append(out, "token "+e.Param+" "+str(e.System)+" "+str(e.Code)+" "+str(e.Text))
	}
	for _, e := range ix.References {
		out = append(out, "reference "+e.Param+" "+str(e.TargetType)+" "+str(e.TargetID)+" "+str(e.URL))
	}
	for _, e := range ix.Dates {
		out = append(out, "date "+e.Param+" "+e.Lo.Format(time.RFC3339Nano)+" "+e.Hi.Format(time.RFC3339Nano))
	}
	for _, e := range ix.Numbers {
		out = append(out, "number "+e.Param+" "+e.Value)
	}
	for _, e := range ix.Quantities {
		out = append(out, "quantity "+e.Param+" "+e.Value+" "+str(e.System)+" "+str(e.Code)+" "+str(e.Unit))
	}
	for _, e := range ix.URIs {
		out = append(out, "uri "+e.Param+" "+e.Value)
	}
	sort.Strings(out)
	return out
}

func TestExtractPatient(t *testing.T) {
	p := decode(t, `{"resourceType":"Patient","id":"p1","meta":{"profile":["http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient"],"tag":[{"system":"urn:t","code":"x"}]},
		"identifier":[{"system":"urn:mrn","value":"M1","type":{"text":"Medical Record"}}],
		"active":true,"name":[{"family":"Ångström","given":["Zoë","Q"]}],
		"telecom":[{"system":"phone","value":"555-1"},{"system":"email","value":"a@b.c"}],
		"gender":"female","birthDate":"1970-03",
		"address":[{"line":["1 Main St"],"city":"Boston","postalCode":"02101"}],
		"generalPractitioner":[{"reference":"Practitioner/d1"}],
		"managingOrganization":{"reference":"https://other.org/fhir/Organization/o9"},
		"link":[{"other":{"identifier":{"system":"urn:x","value":"L"}},"type":"seealso"}]}`)
	got := rendered(registry(t).Extract("Patient", p))
	for _, want := range []string{
		"string name angstrom Ångström", "string family angstrom Ångström", "string given zoe Zoë", "string given q Q",
		"string address 1 main st 1 Main St", "string address-city boston Boston", "string address-postalcode 02101 02101",
		"string phonetic angstrom Ångström",
		"token identifier urn:mrn M1 medical record", "token active <nil> true <nil>", "token gender <nil> female <nil>",
		"token phone <nil> 555-1 <nil>", "token email <nil> a@b.c <nil>", "token telecom <nil> 555-1 <nil>",
		"token _tag urn:t x <nil>", "token link:identifier urn:x L <nil>",
		"uri _profile http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient",
		"date birthdate 1970-03-01T00:00:00Z 1970-04-01T00:00:00Z",
		"reference general-practitioner Practitioner d1 <nil>",
		"reference organization Organization o9 https://other.org/fhir/Organization/o9",
		"token deceased <nil> false <nil>",
	} {
		assert.Contains(t, got, want)
	}
	for _, line := range got {
		assert.NotContains(t, line, " _id ", "answered from resource_version")
	}
}

func TestExtractObservation(t *testing.T) {
	o := decode(t, `{"resourceType":"Observation","status":"final",
		"category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"vital-signs"}]}],
		"code":{"coding":[{"system":"http://loinc.org","code":"8867-4","display":"Heart rate"}],"text":"HR"},
		"subject":{"reference":"Patient/p1"},"encounter":{"reference":"Encounter/e1"},
		"effectivePeriod":{"start":"2020-01-02T10:00:00+01:00"},
		"valueQuantity":{"value":72.5,"unit":"/min","system":"http://unitsofmeasure.org","code":"/min"}}`)
	got := rendered(registry(t).Extract("Observation", o))
	for _, want := range []string{
		"token status <nil> final <nil>",
		"token category http://terminology.hl7.org/CodeSystem/observation-category vital-signs <nil>",
		"token code http://loinc.org 8867-4 heart rate", "token code <nil> <nil> hr",
		"reference subject Patient p1 <nil>", "reference encounter Encounter e1 <nil>",
		"date date 2020-01-02T09:00:00Z 9999-12-31T23:59:59Z",
		"quantity value-quantity 72.5 http://unitsofmeasure.org /min /min",
	} {
		assert.Contains(t, got, want)
	}
	assert.NotContains(t, got, "reference performer Patient p1 <nil>")
	// patient is subject restricted to Patient, combo-code is code or
	// component-code: searched through their rows, not written twice
	assert.NotContains(t, got, "reference patient Patient p1 <nil>")
	assert.NotContains(t, got, "token combo-code http://loinc.org 8867-4 heart rate")
}

// A CodeableConcept's text has a row of its own for :text unless a coding's
// display already says it (normalised alike).
func TestExtractConceptText(t *testing.T) {
	tests := []struct {
		concept string
		want    []string
	}{
		{`{"coding":[{"system":"urn:s","code":"a","display":"Body Height"}],"text":"BODY height"}`,
			[]string{"token code urn:s a body height"}},
		{`{"coding":[{"system":"urn:s","code":"a","display":"Body Height"},{"system":"urn:t","code":"b","display":"Höhe"}],"text":"hohe"}`,
			[]string{"token code urn:s a body height", "token code urn:t b hohe"}},
		{`{"coding":[{"system":"urn:s","code":"a","display":"Body Height"}],"text":"Stature"}`,
			[]string{"token code <nil> <nil> stature", "token code urn:s a body height"}},
		{`{"coding":[{"system":"urn:s","code":"a"}],"text":"Stature"}`,
			[]string{"token code <nil> <nil> stature", "token code urn:s a <nil>"}},
		{`{"text":"Stature"}`, []string{"token code <nil> <nil> stature"}},
	}
	for _, tt := range tests {
		o := decode(t, `{"resourceType":"Observation","status":"final","code":`+tt.concept+`}`)
		var got []string
		for _, line := range rendered(registry(t).Extract("Observation", o)) {
			if strings.HasPrefix(line, "token code ") {
				got = append(got, line)
			}
		}
		assert.Equal(t, tt.want, got, tt.concept)
	}
}

// A composite's entries pair each element's own component values: a blood
// pressure's systolic code with its systolic value only, never with the
// diastolic one, however many components the observation has.
func TestExtractComposites(t *testing.T) {
	o := decode(t, `{"resourceType":"Observation","status":"final",
		"code":{"coding":[{"system":"http://loinc.org","code":"85354-9"}]},
		"component":[
		  {"code":{"coding":[{"system":"http://loinc.org","code":"8480-6"}]},"valueQuantity":{"value":120,"system":"http://unitsofmeasure.org","code":"mm[Hg]"}},
		  {"code":{"coding":[{"system":"http://loinc.org","code":"8462-4"}]},"valueQuantity":{"value":80,"system":"http://unitsofmeasure.org","code":"mm[Hg]"}},
		  {"code":{"coding":[{"system":"urn:s","code":"posture"}]},"valueCodeableConcept":{"coding":[{"system":"urn:p","code":"sitting"}]}}],
		"valueCodeableConcept":{"coding":[{"system":"urn:v","code":"v1"},{"system":"urn:v","code":"v2"}]}}`)
	var got []string
	for _, e := range registry(t).Extract("Observation", o).Composites {
		line := e.Param + " " + str(e.C1System) + "|" + str(e.C1Code) + " $ " + str(e.C2System) + "|" + str(e.C2Code)
		if e.C2Value != nil {
			line += " " + *e.C2Value
		}
		got = append(got, line)
	}
	sort.Strings(got)
	assert.Equal(t, []string{
		"code-value-concept http://loinc.org|85354-9 $ urn:v|v1",
		"code-value-concept http://loinc.org|85354-9 $ urn:v|v2",
		// the combo-* composites are answered by these rows (TestSharedRowsHoldWhatTheirParameterSelects)
		"component-code-value-concept urn:s|posture $ urn:p|sitting",
		"component-code-value-quantity http://loinc.org|8462-4 $ http://unitsofmeasure.org|mm[Hg] 80",
		"component-code-value-quantity http://loinc.org|8480-6 $ http://unitsofmeasure.org|mm[Hg] 120",
	}, got)
}

func TestDateRange(t *testing.T) {
	tests := []struct{ in, lo, hi string }{
		{"2020", "2020-01-01T00:00:00Z", "2021-01-01T00:00:00Z"},
		{"2020-02", "2020-02-01T00:00:00Z", "2020-03-01T00:00:00Z"},
		{"2020-12-31", "2020-12-31T00:00:00Z", "2021-01-01T00:00:00Z"},
		{"2020-02-29T23:59", "2020-02-29T23:59:00Z", "2020-03-01T00:00:00Z"},
		{"1946-11-22T01:11:45-05:00", "1946-11-22T06:11:45Z", "1946-11-22T06:11:46Z"},
		{"2020-01-01T00:00:00.5Z", "2020-01-01T00:00:00.5Z", "2020-01-01T00:00:00.6Z"},
		{"2020-01-01T00:00:00.123+02:00", "2019-12-31T22:00:00.123Z", "2019-12-31T22:00:00.124Z"},
	}
	for _, tt := range tests {
		lo, hi, err := DateRange(tt.in)
		require.NoError(t, err, tt.in)
		assert.Equal(t, tt.lo, lo.Format(time.RFC3339Nano), tt.in)
		assert.Equal(t, tt.hi, hi.Format(time.RFC3339Nano), tt.in)
	}
	for _, bad := range []string{"", "20", "2020-13", "2020-02-30", "2020-01-01T25:00", "2020-01-01 10:00", "x2020"} {
		_, _, err := DateRange(bad)
		assert.Error(t, err, bad)
	}
}

func TestNormalize(t *testing.T) {
	for in, want := range map[string]string{"Zoë": "zoe", "ÅNGSTRÖM": "angstrom", "plain": "plain", "MiXeD": "mixed", "Çelik-Öz": "celik-oz"} {
		assert.Equal(t, want, Normalize(in), in)
	}
}

// US Core's own parameters are indexed like R4's.
func TestExtractUSCoreParameters(t *testing.T) {
	tests := []struct {
		typ, code, resource string
		want                []string
	}{
		{"Condition", "asserted-date", `{"resourceType":"Condition","extension":[{"url":"http://hl7.org/fhir/StructureDefinition/condition-assertedDate","valueDateTime":"2021-03-04"}]}`,
			[]string{"date asserted-date 2021-03-04T00:00:00Z 2021-03-05T00:00:00Z"}},
		{"Encounter", "discharge-disposition", `{"resourceType":"Encounter","hospitalization":{"dischargeDisposition":{"coding":[{"system":"urn:d","code":"home"}]}}}`,
			[]string{"token discharge-disposition urn:d home <nil>"}},
		{"CareTeam", "role", `{"resourceType":"CareTeam","participant":[{"role":[{"coding":[{"system":"urn:r","code":"nurse"}]}]}]}`,
			[]string{"token role urn:r nurse <nil>"}},
		{"Goal", "description", `{"resourceType":"Goal","description":{"coding":[{"system":"urn:g","code":"weight"}],"text":"Lose weight"}}`,
			[]string{"token description <nil> <nil> lose weight", "token description urn:g weight <nil>"}},
		{"Patient", "race", `{"resourceType":"Patient","extension":[{"url":"http://hl7.org/fhir/us/core/StructureDefinition/us-core-race","extension":[{"url":"ombCategory","valueCoding":{"system":"urn:oid:2.16.840.1.113883.6.238","code":"2106-3"}},{"url":"text","valueString":"White"}]}]}`,
			[]string{"token race <nil> 2106-3 <nil>"}},
		{"Patient", "gender-identity", `{"resourceType":"Patient","extension":[{"url":"http://hl7.org/fhir/us/core/StructureDefinition/us-core-genderIdentity","valueCodeableConcept":{"coding":[{"system":"http://snomed.info/sct","code":"446141000124107"}]}}]}`,
			[]string{"token gender-identity <nil> 446141000124107 <nil>"}},
	}
	reg := registry(t)
	for _, tt := range tests {
		got := rendered(reg.ExtractParam(tt.typ, tt.code, decode(t, tt.resource)))
		assert.Equal(t, tt.want, got, "%s %s", tt.typ, tt.code)
	}
}
