package fhirserver_test

import (
	"bytes"
	"encoding/json"

	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirserver/fhirserver/conformance/fixtures"
	"github.com/fhirserver/fhirserver/search"
	"github.com/fhirserver/fhirserver/storage"
)

// loadUSCore loads the US Core reference patients and Inferno's seed data
// the way a client would, and returns every resource the server then holds,
// read back unfiltered, by type.
func loadUSCore(t *testing.T, ts *testServer) map[string][]map[string]any {
	t.Helper()
	files := fixtures.Need(t)
	// With the API's defaults: patient 908 follows US Core 8.0.0, which
	// is held beside the other versions.
	for _, f := range files {
		dir := filepath.Base(filepath.Dir(f))
		if dir != "us-core" && dir != "inferno-seed-more" {
			continue
		}
		body, err := os.ReadFile(f)
		require.NoError(t, err)
		var head struct{ ResourceType, Type, ID string }
		require.NoError(t, json.Unmarshal(body, &head))
		var r response
		if head.ResourceType == "Bundle" && (head.Type == "transaction" || head.Type == "batch") {
			r = ts.do("POST", "", fhirJSON, string(body))
		} else {
			r = ts.do("PUT", "/"+head.ResourceType+"/"+head.ID, fhirJSON, string(body))
		}
		require.Contains(t, []int{200, 201}, r.Status, "%s: %s", f, r.Body)
	}
	all := map[string][]map[string]any{}
	for _, typ := range []string{"Patient", "Observation", "Condition", "Encounter", "MedicationRequest", "Procedure", "Immunization",
		"DiagnosticReport", "DocumentReference", "AllergyIntolerance", "CarePlan", "CareTeam", "Goal", "Device", "Location",
		"Organization", "Practitioner", "PractitionerRole", "Provenance", "Medication", "ServiceRequest", "Coverage",
		"QuestionnaireResponse", "Specimen", "RelatedPerson", "Group"} {
		path := "/" + typ + "?_count=1000"
		for path != "" {
			b := ts.searchBundle(path)
			for _, e := range b.Entry {
				all[typ] = append(all[typ], decodeNumbers(t, e.Resource))
			}
			path = strings.TrimPrefix(b.link("next"), ts.URL)
		}
	}
	return all
}

// decodeNumbers re-reads a resource with json.Number, as the server does.
func decodeNumbers(t *testing.T, m map[string]any) map[string]any {
	b, err := json.Marshal(m)
	require.NoError(t, err)
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var out map[string]any
	require.NoError(t, d.Decode(&out))
	return out
}

// oracle decides in memory, from the parameter's own FHIRPath expression,
// whether a resource matches one parameter value: the brute-force side of
// the property test.
type oracle struct {
	reg  *search.Registry
	base string
}

func (o oracle) matches(typ string, res map[string]any, name, value string) bool {
	code, modifier, _ := strings.Cut(name, ":")
	ix := own(o.reg.ExtractParam(typ, code, res), code)
	for _, alt := range strings.Split(value, ",") {
		if o.matchOne(ix, modifier, alt) {
			return true
		}
	}
	return false
}

func (o oracle) matchOne(ix storage.Index, modifier, v string) bool {
	str := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	for _, e := range ix.Tokens {
		sys, code, hasSys := strings.Cut(v, "|")
		if !hasSys {
			code, sys = sys, ""
		}
		if code == str(e.Code) && (!hasSys || sys == str(e.System)) {
			return true
		}
	}
	v = strings.TrimPrefix(v, o.base+"/")
	for _, e := range ix.References {
		if v == str(e.TargetType)+"/"+str(e.TargetID) || !strings.Contains(v, "/") && v == str(e.TargetID) {
			return true
		}
	}
	for _, e := range ix.Strings {
		if modifier == "exact" && e.Exact == v || modifier == "" && strings.HasPrefix(e.Value, search.Normalize(v)) {
			return true
		}
	}
	for _, e := range ix.Dates {
		prefix, rest := v[:2], v[2:]
		lo, hi, err := search.DateRange(rest)
		if err != nil {
			continue
		}
		contained := !e.Lo.Before(lo) && !e.Hi.After(hi)
		switch prefix {
		case "eq":
			if contained {
				return true
			}
		case "gt":
			if e.Hi.After(hi) {
				return true
			}
		case "lt":
			if e.Lo.Before(lo) {
				return true
			}
		case "ge":
			if e.Hi.After(hi) || contained {
				return true
			}
		case "le":
			if e.Lo.Before(lo) || contained {
				return true
			}
		}
	}
	return false
}

// expect filters all resources of typ by every parameter (AND) with the oracle.
func (o oracle) expect(all map[string][]map[string]any, typ string, q url.Values) []string {
	out := []string{}
	for _, res := range all[typ] {
		ok := true
		for name, values := range q {
			for _, v := range values {
				ok = ok && o.matches(typ, res, name, v)
			}
		}
		if ok {
			out = append(out, typ+"/"+res["id"].(string))
		}
	}
	sort.Strings(out)
	return out
}

func TestUSCoreSearchesOnReferencePatients(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	all := loadUSCore(t, ts)
	reg, err := search.R4()
	require.NoError(t, err)
	o := oracle{reg: reg, base: ts.URL}
	require.NotEmpty(t, all["Patient"])

	searches := []string{
		"Patient?_id=85", "Patient?identifier=http://hospital.smarthealthit.org|d831ec91-c7a3-4a61-9312-7ff0c4a32134", "Patient?name=Bosco",
		"Patient?birthdate=eq1940-03-29&name=Lucien", "Patient?gender=male&name=bosco882", "Patient?family:exact=Bosco882",
		"Observation?patient=85&category=laboratory", "Observation?patient=Patient/85&category=http://terminology.hl7.org/CodeSystem/observation-category|vital-signs",
		"Observation?patient=355&code=http://loinc.org|8867-4", "Observation?patient=85&code=72166-2",
		"Observation?patient=85&category=vital-signs&date=ge2010-01-01", "Observation?patient=85&category=laboratory&date=le2022-01-01T00:00:00Z",
		"Observation?patient=85&code=8867-4&date=ge1940", "Observation?patient=85&category=laboratory&status=final,amended,corrected,preliminary,registered,cancelled,entered-in-error,unknown",
		"Condition?patient=85&category=encounter-diagnosis", "Condition?patient=85&onset-date=ge1960&onset-date=lt1970", "Condition?patient=85&clinical-status=active,resolved,inactive",
		"Condition?patient=85&code=http://snomed.info/sct|444814009", "Condition?patient=85&onset-date=ge1940-12-24T00:11:45-05:00",
		"Encounter?patient=85", "Encounter?patient=85&date=ge2000-01-01", "Encounter?patient=85&status=finished",
		"Encounter?patient=85&type=http://snomed.info/sct|185349003", "Encounter?class=AMB&patient=85",
		"MedicationRequest?patient=85&intent=order", "MedicationRequest?patient=85&intent=order,plan&status=active,completed,stopped",
		"MedicationRequest?patient=85&intent=order&authoredon=ge2000",
		"Procedure?patient=85", "Procedure?patient=85&date=ge2000", "Procedure?patient=85&code=http://snomed.info/sct|430193006",
		"Immunization?patient=85", "Immunization?patient=85&date=ge2000",
		"DiagnosticReport?patient=85&category=LAB", "DiagnosticReport?patient=85&code=http://loinc.org|24323-8", "DiagnosticReport?patient=85&category=LAB&date=ge2000",
		"DocumentReference?patient=85", "DocumentReference?patient=85&category=clinical-note", "DocumentReference?patient=85&type=http://loinc.org|34117-2",
		"AllergyIntolerance?patient=85", "AllergyIntolerance?patient=85&clinical-status=active",
		"CarePlan?patient=85&category=assess-plan", "CareTeam?patient=85&status=active", "Goal?patient=85", "Goal?patient=85&lifecycle-status=active",
		"Device?patient=85", "Device?patient=85&type=http://snomed.info/sct|706172005",
		"Location?name=Shaw", "Location?address=Boston", "Location?address-city=Boston", "Location?address-state=MA", "Location?address-postalcode=02",
		"Organization?name=Shaw", "Organization?address=Boston", "Practitioner?name=Smith", "Practitioner?identifier=http://hl7.org/fhir/sid/us-npi|9941339108",
		"PractitionerRole?specialty=http://nucc.org/provider-taxonomy|208D00000X", "PractitionerRole?practitioner=Practitioner/practitioner-1",
		"Provenance?target=Patient/85",
	}
	nonEmpty := 0
	for _, s := range searches {
		typ, raw, _ := strings.Cut(s, "?")
		q, err := url.ParseQuery(raw)
		require.NoError(t, err)
		want := o.expect(all, typ, q)
		got := ts.keysOf("/" + s + "&_count=7")
		assert.Equal(t, want, got, s)
		if len(got) > 0 {
			nonEmpty++
		}
		post := ts.do("POST", "/"+typ+"/_search", "application/x-www-form-urlencoded", raw+"&_total=accurate")
		require.Equal(t, 200, post.Status, "%s: %s", s, post.Body)
		var b searchset
		require.NoError(t, json.Unmarshal(post.Body, &b))
		require.NotNil(t, b.Total, s)
		assert.Equal(t, len(want), *b.Total, "POST _search counts the same: %s", s)
	}
	assert.Greater(t, nonEmpty, len(searches)/2, "most searches find something in the reference data")

	// the three spellings of a reference give the same result
	for _, p := range []string{"85", "Patient/85", ts.URL + "/Patient/85"} {
		assert.Equal(t, ts.keysOf("/Observation?patient=85"), ts.keysOf("/Observation?patient="+url.QueryEscape(p)), p)
	}
}

// The property test: searches generated from the values the reference
// data really holds, for every token, reference, string and date parameter
// of the US Core types, give exactly what the in-memory filter gives.
func TestGeneratedSearchesEqualBruteForce(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	all := loadUSCore(t, ts)
	reg, err := search.R4()
	require.NoError(t, err)
	o := oracle{reg: reg, base: ts.URL}
	checked := 0
	for _, typ := range sortedTypes(all) {
		for _, code := range sortedCodes(reg, typ) {
			p := reg.Param(typ, code)
			if _, blind := ts.store.BlindString(typ, code, "", false); blind {
				continue // encrypted at rest: matched whole, not by prefix (encryption_test.go)
			}
			for _, v := range o.sampleValues(all[typ], typ, code, p.Type) {
				q := url.Values{code: {v}}
				want := o.expect(all, typ, q)
				got := ts.keysOf("/" + typ + "?" + q.Encode() + "&_count=50")
				if !assert.Equal(t, want, got, "%s?%s", typ, q.Encode()) {
					continue
				}
				checked++
			}
		}
	}
	t.Logf("%d generated searches agree with the brute-force filter", checked)
	assert.Greater(t, checked, 300)
}

func sortedTypes(all map[string][]map[string]any) []string {
	var out []string
	for t := range all {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

func sortedCodes(reg *search.Registry, typ string) []string {
	var out []string
	for code, p := range reg.Params(typ) {
		switch p.Type {
		case "token", "reference", "string", "date":
			if !strings.HasPrefix(code, "_") {
				out = append(out, code)
			}
		}
	}
	sort.Strings(out)
	return out
}

// sampleValues picks up to three search values from what the resources
// hold for a parameter: the first, middle and last by sort order.
func (o oracle) sampleValues(resources []map[string]any, typ, code, kind string) []string {
	set := map[string]bool{}
	for _, res := range resources {
		ix := own(o.reg.ExtractParam(typ, code, res), code)
		for _, e := range ix.Tokens {
			if e.Code != nil {
				if e.System != nil {
					set[*e.System+"|"+*e.Code] = true
				} else {
					set[*e.Code] = true
				}
			}
		}
		for _, e := range ix.References {
			if e.TargetType != nil && e.TargetID != nil {
				set[*e.TargetType+"/"+*e.TargetID] = true
			}
		}
		for _, e := range ix.Strings {
			if r := []rune(e.Value); len(r) >= 3 {
				set[string(r[:3])] = true
			}
		}
		for _, e := range ix.Dates {
			if e.Lo.Year() > 1 {
				set["ge"+e.Lo.Format(time.DateOnly)] = true
				set["eq"+e.Lo.Format("2006")] = true
				set["le"+e.Lo.Add(time.Hour).Format(time.RFC3339)] = true
			}
		}
	}
	var vals []string
	for v := range set {
		if !strings.Contains(v, ",") {
			vals = append(vals, v)
		}
	}
	sort.Strings(vals)
	if len(vals) <= 3 {
		return vals
	}
	return []string{vals[0], vals[len(vals)/2], vals[len(vals)-1]}
}

// own keeps the token entries of the parameter itself, not those it keeps
// for its modifiers (identifier:of-type, subject:identifier).
func own(ix storage.Index, code string) storage.Index {
	var kept []storage.TokenEntry
	for _, e := range ix.Tokens {
		if e.Param == code {
			kept = append(kept, e)
		}
	}
	ix.Tokens = kept
	return ix
}
