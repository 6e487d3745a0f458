package fhirserver_test

import (
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// keysOf pages through a search or $everything and returns Type/id of
// every entry, each page being a valid 200.
func (ts *testServer) keysOf(path string) []string {
	ts.t.Helper()
	out := []string{}
	for path != "" {
		b := ts.searchBundle(path)
		for _, e := range b.Entry {
			out = append(out, e.Resource["resourceType"].(string)+"/"+e.Resource["id"].(string))
		}
		path = strings.TrimPrefix(b.link("next"), ts.URL)
	}
	sort.Strings(out)
	return out
}

func TestPatientEverything(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	searchData(ts)
	ts.put("Medication", "m1", `{"resourceType":"Medication"}`)
	ts.put("MedicationRequest", "mr1", `{"resourceType":"MedicationRequest","status":"active","intent":"order",
		"medicationReference":{"reference":"Medication/m1"},"subject":{"reference":"Patient/p1"},"requester":{"reference":"Practitioner/dr1"}}`)
	ts.put("Encounter", "e1", `{"resourceType":"Encounter","status":"finished","class":{"code":"AMB"},"subject":{"reference":"Patient/p1"},
		"serviceProvider":{"reference":"Organization/org1"}}`)

	p1 := []string{"Condition/c1", "Encounter/e1", "Medication/m1", "MedicationRequest/mr1", "Observation/o1", "Observation/o3",
		"Organization/org1", "Patient/p1", "Practitioner/dr1", "RiskAssessment/r1"}
	assert.Equal(t, p1, ts.keysOf("/Patient/p1/$everything"))
	// Pages hold the members (the compartment) first and then the extras
	// (what they point at): pages that end inside either part, exactly at
	// the end of the members (7 of them), or one entry long.
	for _, count := range []string{"1", "3", "6", "7", "8"} {
		assert.Equal(t, p1, ts.keysOf("/Patient/p1/$everything?_count="+count), "the same across pages of %s", count)
	}
	assert.Equal(t, []string{"Observation/bp1", "Observation/o2", "Patient/p2"}, ts.keysOf("/Patient/p2/$everything"))
	assert.Equal(t, []string{"Observation/o1", "Observation/o3", "Patient/p1"}, ts.keysOf("/Patient/p1/$everything?_type=Patient,Observation"))

	// start and end: care dates overlapping the range, at their precision;
	// types without a care date (Patient) stay, and so do the extras.
	extras := []string{"Medication/m1", "Organization/org1", "Patient/p1", "Practitioner/dr1"}
	for query, want := range map[string][]string{
		"start=2000&end=2010":                   append([]string{"Condition/c1"}, extras...),
		"start=2021-06-15":                      append([]string{"Observation/o3"}, extras...),
		"end=1946-11-22":                        append([]string{"Observation/o1"}, extras...),
		"end=1946-11-21":                        extras,
		"start=2001-05-31&end=2001-06&_count=2": append([]string{"Condition/c1"}, extras...),
	} {
		got := ts.keysOf("/Patient/p1/$everything?" + query)
		sort.Strings(want)
		assert.Equal(t, want, got, query)
	}
	assertOutcome(t, ts.do("GET", "/Patient/p1/$everything?start=soon", "", ""), 400, "invalid", "start")

	all := ts.keysOf("/Patient/$everything?_count=4")
	assert.Subset(t, all, append(p1, "Observation/o2", "Observation/bp1", "Patient/p2"))
	assert.NotContains(t, all, "ValueSet/vs1", "not linked to any patient")

	since := ts.searchBundle("/Patient/p1/$everything").Entry
	require.NotEmpty(t, since)
	last := ts.do("GET", "/Encounter/e1", "", "").Header.Get("Last-Modified")
	require.NotEmpty(t, last)
	ts.put("Observation", "o1", `{"resourceType":"Observation","status":"corrected","code":{"text":"x"},"subject":{"reference":"Patient/p1"}}`)
	o1 := ts.do("GET", "/Observation/o1", "", "").json(t)
	lu := o1["meta"].(map[string]any)["lastUpdated"].(string)
	assert.Equal(t, []string{"Observation/o1"}, ts.keysOf("/Patient/p1/$everything?_since="+strings.ReplaceAll(lu, "+", "%2B")))

	assertOutcome(t, ts.do("GET", "/Patient/nope/$everything", "", ""), 404, "not-found", "")
	assertOutcome(t, ts.do("GET", "/Patient/p1/$everything?_type=Nope", "", ""), 400, "invalid", "_type")
	assertOutcome(t, ts.do("GET", "/Patient/p1/$everything?_since=2020", "", ""), 400, "invalid", "_since")

	// scopes: a token that may read only Patient and Observation
	_, ts.token = ts.clientToken("system/Patient.r system/Observation.r")
	assert.Equal(t, []string{"Observation/o1", "Observation/o3", "Patient/p1"}, ts.keysOf("/Patient/p1/$everything"))
}
