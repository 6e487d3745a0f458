package fhirserver_test

import (
	"encoding/json"
	"net/url"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// searchset is the part of a search Bundle the tests read.
type searchset struct {
	ResourceType string
	Type         string
	Total        *int
	Link         []struct{ Relation, URL string }
	Entry        []struct {
		FullURL  string
		Resource map[string]any
		Search   struct{ Mode string }
	}
}

func (ts *testServer) searchBundle(path string) searchset {
	ts.t.Helper()
	r := ts.do("GET", path, "", "")
	require.Equal(ts.t, 200, r.Status, "GET %s: %s", path, r.Body)
	var b searchset
	require.NoError(ts.t, json.Unmarshal(r.Body, &b))
	require.Equal(ts.t, "searchset", b.Type)
	return b
}

// ids returns the sorted ids a search finds.
func (ts *testServer) ids(path string) []string {
	ts.t.Helper()
	b := ts.searchBundle(path)
	out := []string{}
	for _, e := range b.Entry {
		assert.Equal(ts.t, "match", e.Search.Mode)
		out = append(out, e.Resource["id"].(string))
	}
	sort.Strings(out)
	return out
}

func (b searchset) link(rel string) string {
	for _, l := range b.Link {
		if l.Relation == rel {
			return l.URL
		}
	}
	return ""
}

func (ts *testServer) put(typ, id, body string) {
	ts.t.Helper()
	var obj map[string]json.RawMessage
	require.NoError(ts.t, json.Unmarshal([]byte(body), &obj), body)
	obj["id"], _ = json.Marshal(id)
	b, _ := json.Marshal(obj)
	r := ts.do("PUT", "/"+typ+"/"+id, fhirJSON, string(b))
	require.Contains(ts.t, []int{200, 201}, r.Status, "%s", r.Body)
}

// searchData is a small clinical record: two patients, their observations
// and conditions, a practitioner and an organization.
func searchData(ts *testServer) {
	ts.put("Organization", "org1", `{"resourceType":"Organization","name":"Acme Clinic","identifier":[{"system":"urn:org","value":"A1"}]}`)
	ts.put("Practitioner", "dr1", `{"resourceType":"Practitioner","name":[{"family":"Welby","given":["Marcus"]}]}`)
	ts.put("Patient", "p1", `{"resourceType":"Patient","identifier":[{"system":"urn:mrn","value":"M1"},
		{"system":"urn:ssn","value":"999","type":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v2-0203","code":"SS"}]}}],"name":[{"family":"Ångström","given":["Zoë"]}],
		"gender":"female","birthDate":"1946-11-22","managingOrganization":{"reference":"Organization/org1"},"active":true,
		"generalPractitioner":[{"reference":"Practitioner/dr1"}]}`)
	ts.put("Patient", "p2", `{"resourceType":"Patient","identifier":[{"system":"urn:mrn","value":"M2"}],"name":[{"family":"Smith","given":["Peter","James"]}],
		"gender":"male","birthDate":"1980-01","active":false}`)
	ts.put("Observation", "o1", `{"resourceType":"Observation","status":"final",
		"category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"vital-signs"}]}],
		"code":{"coding":[{"system":"http://loinc.org","code":"8867-4","display":"Heart rate"}],"text":"Pulse"},
		"subject":{"reference":"Patient/p1"},"effectiveDateTime":"1946-11-22T01:11:45-05:00",
		"valueQuantity":{"value":72,"unit":"/min","system":"http://unitsofmeasure.org","code":"/min"}}`)
	ts.put("Observation", "o2", `{"resourceType":"Observation","status":"amended",
		"category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"laboratory"}]}],
		"code":{"coding":[{"system":"http://loinc.org","code":"2339-0","display":"Glucose [Mass/volume] in Blood"}],"text":"glucose [mass/volume] in blood"},
		"subject":{"reference":"Patient/p2"},"effectivePeriod":{"start":"2020-01-01","end":"2020-01-31"},
		"valueQuantity":{"value":5.4,"unit":"mmol/L","system":"http://unitsofmeasure.org","code":"mmol/L"}}`)
	ts.put("Observation", "o3", `{"resourceType":"Observation","status":"final",
		"code":{"coding":[{"code":"8867-4"}]},"subject":{"reference":"Patient/p1"},"effectiveDateTime":"2021-06-15"}`)
	ts.put("Condition", "c1", `{"resourceType":"Condition","subject":{"reference":"Patient/p1"},"code":{"text":"Asthma"},
		"clinicalStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/condition-clinical","code":"active"}]},
		"onsetDateTime":"2001-05"}`)
	ts.put("RiskAssessment", "r1", `{"resourceType":"RiskAssessment","status":"final","subject":{"reference":"Patient/p1"},
		"prediction":[{"probabilityDecimal":0.25}]}`)
	ts.put("Observation", "bp1", `{"resourceType":"Observation","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"85354-9"}]},
		"subject":{"reference":"Patient/p2"},"effectiveDateTime":"2020-05-05",
		"component":[{"code":{"coding":[{"system":"http://loinc.org","code":"8480-6"}]},"valueQuantity":{"value":120,"system":"http://unitsofmeasure.org","code":"mm[Hg]"}},
		             {"code":{"coding":[{"system":"http://loinc.org","code":"8462-4"}]},"valueQuantity":{"value":80,"system":"http://unitsofmeasure.org","code":"mm[Hg]"}},
		             {"code":{"coding":[{"system":"http://loinc.org","code":"x-note"}]},"valueString":"Sitting"},
		             {"code":{"coding":[{"system":"http://loinc.org","code":"x-when"}]},"valueDateTime":"2020-05-05T10:00:00Z"},
		             {"code":{"coding":[{"system":"http://loinc.org","code":"x-kind"}]},"valueCodeableConcept":{"coding":[{"system":"urn:k","code":"arm"}]}}]}`)
	ts.put("ValueSet", "vs1", `{"resourceType":"ValueSet","status":"active","url":"http://acme.org/fhir/ValueSet/a/b"}`)
}

func TestSearchParameterTypes(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	searchData(ts)
	base := url.QueryEscape(ts.URL)
	tests := []struct {
		path string
		want []string
	}{
		// string: case- and accent-insensitive prefix, :exact, :contains, any name part
		{"/Patient?name=angst", []string{"p1"}},
		{"/Patient?name=ZOE", []string{"p1"}},
		{"/Patient?family:exact=Ångström", []string{"p1"}},
		{"/Patient?family:exact=angström", []string{}},
		{"/Patient?name:contains=mit", []string{"p2"}},
		{"/Patient?given=jam", []string{"p2"}},
		{"/Patient?name=smith,angstrom", []string{"p1", "p2"}},
		{"/Patient?name=smith&gender=female", []string{}},
		// token
		{"/Patient?identifier=urn:mrn|M1", []string{"p1"}},
		{"/Patient?identifier=M2", []string{"p2"}},
		{"/Patient?identifier=urn:other|M2", []string{}},
		{"/Patient?identifier:of-type=http://terminology.hl7.org/CodeSystem/v2-0203|SS|999", []string{"p1"}},
		{"/Patient?identifier:of-type=http://terminology.hl7.org/CodeSystem/v2-0203|MR|999", []string{}},
		{"/Patient?identifier:of-type=http://terminology.hl7.org/CodeSystem/v2-0203|SS|M1", []string{}},
		{"/Patient?gender=female,male", []string{"p1", "p2"}},
		{"/Patient?active=true", []string{"p1"}},
		{"/Observation?code=http://loinc.org|8867-4", []string{"o1"}},
		{"/Observation?code=8867-4", []string{"o1", "o3"}},
		{"/Observation?code=|8867-4", []string{"o3"}},
		{"/Observation?code=http://loinc.org|", []string{"bp1", "o1", "o2"}},
		{"/Observation?code:text=puls", []string{"o1"}},
		{"/Observation?code:text=heart", []string{"o1"}},
		{"/Observation?code:text=GLUCOSE", []string{"o2"}}, // the text is the display: one row holds both
		{"/Observation?status:not=final", []string{"o2"}},
		{"/Observation?status:not=amended&subject=Patient/p2", []string{"bp1"}},
		{"/Observation?status=final,amended,preliminary,registered,corrected,cancelled,entered-in-error,unknown", []string{"bp1", "o1", "o2", "o3"}},
		{"/Observation?category=vital-signs", []string{"o1"}},
		{"/Observation?combo-code=2339-0,8867-4", []string{"o1", "o2", "o3"}},
		// reference
		{"/Observation?subject=Patient/p1", []string{"o1", "o3"}},
		{"/Observation?value-quantity=lt100&subject=Patient/p2", []string{"o2"}},
		{"/Observation?patient=p1", []string{"o1", "o3"}},
		{"/Observation?patient=Patient/p1", []string{"o1", "o3"}},
		{"/Observation?patient=" + base + "/Patient/p1", []string{"o1", "o3"}},
		{"/Observation?subject:Patient=p2", []string{"bp1", "o2"}},
		{"/Observation?subject:Group=p2", []string{}},
		{"/Patient?organization=Organization/org1", []string{"p1"}},
		// date: precision ranges, prefixes, offsets, periods
		{"/Patient?birthdate=1946", []string{"p1"}},
		{"/Patient?birthdate=1946-11-22", []string{"p1"}},
		{"/Patient?birthdate=1980-01-15", []string{}},
		{"/Patient?birthdate=ge1980-01-15", []string{"p2"}},
		{"/Patient?birthdate=le1980-01-15", []string{"p1", "p2"}},
		{"/Patient?birthdate=lt1980", []string{"p1"}},
		{"/Patient?birthdate=gt1946-11-22", []string{"p2"}},
		{"/Patient?birthdate=ne1946-11-22", []string{"p2"}},
		{"/Patient?birthdate=sa1946-12", []string{"p2"}},
		{"/Patient?birthdate=eb1980", []string{"p1"}},
		{"/Observation?date=1946-11-22T06:11:45Z", []string{"o1"}},
		{"/Observation?date=gt1946-11-22T01:11:44-05:00&code=8867-4,2339-0", []string{"o1", "o2", "o3"}},
		{"/Observation?date=gt1946-11-22T01:11:45-05:00&code=8867-4,2339-0", []string{"o2", "o3"}},
		{"/Observation?date=lt1946-11-22T01:11:46-05:00", []string{"o1"}},
		{"/Observation?date=2020-01-15", []string{}},
		{"/Observation?date=2020-01", []string{"o2"}},
		{"/Observation?date=2020-05", []string{"bp1"}},
		{"/Observation?date=ge2020-01-15&date=le2020-01-20", []string{"o2"}},
		{"/Condition?onset-date=2001", []string{"c1"}},
		// number and quantity
		{"/RiskAssessment?probability=0.25", []string{"r1"}},
		{"/RiskAssessment?probability=0.2", []string{}},
		{"/RiskAssessment?probability=gt0.2", []string{"r1"}},
		{"/RiskAssessment?probability=lt0.2", []string{}},
		{"/Observation?value-quantity=72", []string{"o1"}},
		{"/Observation?value-quantity=gt5|http://unitsofmeasure.org|mmol/L", []string{"o2"}},
		{"/Observation?value-quantity=gt5||/min", []string{"o1"}},
		{"/Observation?value-quantity=ap5.5", []string{"o2"}},
		{"/Observation?value-quantity=le72", []string{"o1", "o2"}},
		// composite: the components from one element
		{"/Observation?code-value-quantity=http://loinc.org|8867-4$gt70", []string{"o1"}},
		{"/Observation?code-value-quantity=8867-4$lt70", []string{}},
		{"/Observation?code-value-quantity=8867-4$72||/min,2339-0$5.4", []string{"o1", "o2"}},
		{"/Observation?component-code-value-quantity=http://loinc.org|8480-6$gt100", []string{"bp1"}},
		{"/Observation?component-code-value-quantity=http://loinc.org|8462-4$gt100", []string{}},
		{"/Observation?component-code-value-quantity=8462-4$80|http://unitsofmeasure.org|mm[Hg]", []string{"bp1"}},
		{"/Observation?combo-code-value-quantity=8480-6$120,8867-4$72", []string{"bp1", "o1"}},
		{"/Observation?combo-code-value-quantity=85354-9$120", []string{}},
		{"/Observation?combo-code-value-concept=x-kind$urn:k|arm", []string{"bp1"}},
		// the combo-* parameters are answered by their parts' rows
		{"/Observation?combo-value-quantity=120", []string{"bp1"}},
		{"/Observation?combo-value-quantity=le80", []string{"bp1", "o1", "o2"}},
		{"/Observation?combo-value-quantity:missing=true", []string{"o3"}},
		{"/Observation?combo-value-concept=urn:k|arm", []string{"bp1"}},
		{"/Observation?combo-code-value-quantity:missing=false&_sort=-combo-value-quantity", []string{"bp1", "o1", "o2"}},
		{"/Observation?component-code-value-concept=x-kind$urn:k|arm", []string{"bp1"}},
		{"/Observation?component-code-value-concept=8480-6$urn:k|arm", []string{}},
		// uri
		{"/ValueSet?url=http://acme.org/fhir/ValueSet/a/b", []string{"vs1"}},
		{"/ValueSet?url:below=http://acme.org/fhir", []string{"vs1"}},
		{"/ValueSet?url:above=http://acme.org/fhir/ValueSet/a/b/c", []string{"vs1"}},
		{"/ValueSet?url=http://acme.org/fhir", []string{}},
		// _id, :missing, chains, _has
		{"/Patient?_id=p1,p2,nope", []string{"p1", "p2"}},
		{"/Patient?organization:missing=true", []string{"p2"}},
		{"/Patient?organization:missing=false", []string{"p1"}},
		{"/Observation?subject:Patient.name=peter", []string{"bp1", "o2"}},
		{"/Observation?patient.identifier=urn:mrn|M1", []string{"o1", "o3"}},
		{"/Observation?subject:Patient.organization.name=acme", []string{"o1", "o3"}},
		{"/Observation?subject:Patient.general-practitioner.family=welby", []string{"o1", "o3"}},
		{"/Patient?_has:Observation:patient:code=2339-0", []string{"p2"}},
		{"/Patient?_has:Observation:subject:status=final", []string{"p1", "p2"}},
		{"/Patient?_has:Condition:subject:code:text=asth", []string{"p1"}},
		{"/Practitioner?_has:Patient:general-practitioner:_has:Observation:patient:code=8867-4", []string{"dr1"}},
		// compartment
		{"/Patient/p1/Observation", []string{"o1", "o3"}},
		{"/Patient/p1/Observation?code=http://loinc.org|8867-4", []string{"o1"}},
		{"/Patient/p2/Condition", []string{}},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, ts.ids(tt.path), tt.path)
	}
}

// A patient and a code are found through the patient's compartment of
// the token index (migration 034), which holds every patient a version
// refers to: a patient who performed another's observation does not get
// it as their own, current versions only.
func TestSearchPatientAndCode(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	searchData(ts)
	ts.put("Observation", "o4", `{"resourceType":"Observation","status":"final",
		"category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"laboratory"}]}],
		"code":{"coding":[{"system":"http://loinc.org","code":"2339-0"}]},
		"subject":{"reference":"Patient/p1"},"performer":[{"reference":"Patient/p2"}],"effectiveDateTime":"2022-02-02"}`)
	tests := []struct {
		path string
		want []string
	}{
		{"/Observation?patient=p2&code=http://loinc.org|2339-0", []string{"o2"}},
		{"/Observation?patient=p1&code=2339-0", []string{"o4"}},
		{"/Observation?subject=Patient/p1&code=http://loinc.org|2339-0", []string{"o4"}},
		{"/Observation?performer=Patient/p2&code=2339-0", []string{"o4"}},
		{"/Observation?patient=p1&category=laboratory", []string{"o4"}},
		{"/Observation?patient=p1&category=laboratory&date=ge2022", []string{"o4"}},
		{"/Observation?patient=p1&category=laboratory&date=lt2022", []string{}},
		{"/Observation?patient=p2&code=|8867-4", []string{}},
		{"/Observation?patient=p1&code=|8867-4", []string{"o3"}},
		{"/Patient/p2/Observation?code=2339-0", []string{"o2", "o4"}},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, ts.ids(tt.path), tt.path)
	}
	ts.put("Observation", "o4", `{"resourceType":"Observation","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"8867-4"}]},
		"subject":{"reference":"Patient/p1"},"performer":[{"reference":"Patient/p2"}]}`)
	assert.Equal(t, []string{}, ts.ids("/Observation?patient=p1&code=2339-0"))
	assert.Equal(t, []string{"o1", "o3", "o4"}, ts.ids("/Observation?patient=p1&code=8867-4"))
	require.Contains(t, []int{200, 204}, ts.do("DELETE", "/Observation/o4", "", "").Status)
	assert.Equal(t, []string{"o1", "o3"}, ts.ids("/Observation?patient=p1&code=8867-4"))
}

func TestSearchSeesOnlyCurrentVersions(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	ts.put("Patient", "a", `{"resourceType":"Patient","name":[{"family":"Old"}]}`)
	ts.put("Patient", "a", `{"resourceType":"Patient","name":[{"family":"New"}]}`)
	ts.put("Patient", "b", `{"resourceType":"Patient","name":[{"family":"New"}]}`)
	require.Contains(t, []int{200, 204}, ts.do("DELETE", "/Patient/b", "", "").Status)
	assert.Equal(t, []string{}, ts.ids("/Patient?name=old"))
	assert.Equal(t, []string{"a"}, ts.ids("/Patient?name=new"))
	assert.Equal(t, []string{"a"}, ts.ids("/Patient"))
}

func TestSearchPagingIsStable(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	for _, id := range []string{"a", "b", "c", "d", "e"} {
		ts.put("Patient", id, `{"resourceType":"Patient","gender":"other"}`)
	}
	first := ts.searchBundle("/Patient?gender=other&_count=2")
	assert.Nil(t, first.Total, "not counted unless asked when there are more pages")
	assert.Empty(t, first.link("previous"))
	var seen []string
	page := first
	for i := 0; ; i++ {
		for _, e := range page.Entry {
			seen = append(seen, e.Resource["id"].(string))
		}
		if i == 0 {
			// data arriving and changing while the client pages
			ts.put("Patient", "aa", `{"resourceType":"Patient","gender":"other"}`)
			ts.put("Patient", "d", `{"resourceType":"Patient","gender":"male"}`)
			require.Contains(t, []int{200, 204}, ts.do("DELETE", "/Patient/e", "", "").Status)
		}
		next := page.link("next")
		if next == "" {
			break
		}
		require.True(t, strings.HasPrefix(next, ts.URL), next)
		page = ts.searchBundle(strings.TrimPrefix(next, ts.URL))
		assert.NotEmpty(t, page.link("previous"))
	}
	assert.Equal(t, []string{"a", "b", "c", "d", "e"}, seen, "the pages show the store as the first page saw it")

	prev := ts.searchBundle(strings.TrimPrefix(page.link("previous"), ts.URL))
	var back []string
	for _, e := range prev.Entry {
		back = append(back, e.Resource["id"].(string))
	}
	assert.Equal(t, []string{"c", "d"}, back)

	now := ts.searchBundle("/Patient?gender=other&_total=accurate&_count=2")
	require.NotNil(t, now.Total)
	assert.Equal(t, 4, *now.Total, "a new search sees aa and not d or e")
}

// A name prefix is read in the order of its index (the names' order, not
// the ids'), so that a page costs the same however many names share the
// prefix; its pages go by offset within the snapshot, each patient once
// whatever number of its names match, and its links carry no name but
// the client's own.
func TestSearchNamePrefixPages(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	names := map[string]string{"a": `"Smythe"`, "b": `"Smith"`, "c": `"Smalley"`, "d": `"Jones"`, "e": `"Smith"`, "f": `"Smart"`}
	for id, family := range names {
		ts.put("Patient", id, `{"resourceType":"Patient","name":[{"family":`+family+`,"given":["Sam"]},{"family":`+family+`}]}`)
	}
	first := ts.searchBundle("/Patient?name=sm&_count=2")
	var seen []string
	page := first
	for i := 0; ; i++ {
		for _, e := range page.Entry {
			seen = append(seen, e.Resource["id"].(string))
		}
		for _, l := range page.Link {
			for _, name := range []string{"smythe", "smith", "smalley", "smart", "sam"} {
				assert.NotContains(t, strings.ToLower(l.URL), name, "links carry no name but the query's")
			}
		}
		if i == 0 {
			ts.put("Patient", "aa", `{"resourceType":"Patient","name":[{"family":"Smart"}]}`)
			require.Contains(t, []int{200, 204}, ts.do("DELETE", "/Patient/e", "", "").Status)
		}
		next := page.link("next")
		if next == "" {
			break
		}
		assert.Contains(t, next, "_offset=")
		page = ts.searchBundle(strings.TrimPrefix(next, ts.URL))
		assert.NotEmpty(t, page.link("previous"))
	}
	assert.Equal(t, []string{"c", "f", "b", "e", "a"}, seen, "in the order of the names (each family twice, once with a given name): smalley, smart, smith (b, e), smythe")
	assert.Equal(t, []string{"aa", "b", "c", "f"}, ts.ids("/Patient?name=sma,smi"), "ORed prefixes are not a lead: id order")
}

func TestSearchByPostEqualsGet(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	searchData(ts)
	get := ts.searchBundle("/Observation?patient=p1&code=8867-4&_total=accurate")
	r := ts.do("POST", "/Observation/_search", "application/x-www-form-urlencoded", "patient=p1&code=8867-4&_total=accurate")
	require.Equal(t, 200, r.Status, "%s", r.Body)
	var post searchset
	require.NoError(t, json.Unmarshal(r.Body, &post))
	require.NotNil(t, get.Total)
	require.NotNil(t, post.Total)
	assert.Equal(t, *get.Total, *post.Total)
	assert.Equal(t, 2, *post.Total)

	r = ts.do("POST", "/Observation/_search?patient=p1", "application/x-www-form-urlencoded", "code=http://loinc.org|8867-4")
	require.Equal(t, 200, r.Status, "%s", r.Body)
	require.NoError(t, json.Unmarshal(r.Body, &post))
	assert.Len(t, post.Entry, 1, "URL and body parameters combine")

	r = ts.do("POST", "/Observation/_search", fhirJSON, `{"resourceType":"Parameters"}`)
	assertOutcome(t, r, 415, "not-supported", "")
}

func TestSearchBadParameters(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	searchData(ts)

	b := ts.searchBundle("/Patient?frobnicate=1&gender=female")
	assert.Len(t, b.Entry, 1, "an unknown parameter is ignored")
	self := b.link("self")
	assert.Contains(t, self, "gender=female")
	assert.NotContains(t, self, "frobnicate", "and left out of the self link")

	tests := []struct {
		path, code, expression string
		strict                 bool
	}{
		{"/Patient?frobnicate=1", "not-supported", "frobnicate", true},
		{"/Patient?birthdate=1946-13-01", "invalid", "birthdate", false},
		{"/Patient?birthdate=xx1946", "invalid", "birthdate", false},
		{"/Patient?name:frob=x", "invalid", "name:frob", false},
		{"/Patient?gender:below=x", "invalid", "gender:below", false},
		{"/Patient?identifier:of-type=SS|999", "invalid", "identifier:of-type", false},
		{"/RiskAssessment?probability=abc", "invalid", "probability", false},
		{"/Observation?value-quantity=1|2", "invalid", "value-quantity", false},
		{"/Patient?identifier=a|b|c", "invalid", "identifier", false},
		{"/Patient?_count=-1", "invalid", "_count", false},
		{"/Patient?_total=all", "invalid", "_total", false},
		{"/Patient?organization:missing=maybe", "invalid", "organization:missing", false},
		{"/Observation?status.name=x", "invalid", "status.name", false},
		{"/Observation?subject:Patient.frobnicate=x", "invalid", "subject:Patient.frobnicate", false},
		{"/Patient?_has:Observation:nope:code=x", "invalid", "_has:Observation:nope:code", false},
		{"/Patient?_snapshot=x", "invalid", "_snapshot", false},
		{"/Observation?code-value-quantity=8867-4", "invalid", "code-value-quantity", false},
		{"/Observation?code-value-quantity=8867-4$high", "invalid", "code-value-quantity", false},
		{"/Observation?code-value-quantity:exact=8867-4$1", "invalid", "code-value-quantity:exact", false},
	}
	for _, tt := range tests {
		var headers []string
		if tt.strict {
			headers = []string{"Prefer", "handling=strict"}
		}
		r := ts.do("GET", tt.path, "", "", headers...)
		assertOutcome(t, r, 400, tt.code, tt.expression)
	}
	r := ts.do("GET", "/Organization/org1/Observation", "", "")
	assertOutcome(t, r, 404, "not-found", "")
	r = ts.do("GET", "/Patient/p1/Organization", "", "")
	assertOutcome(t, r, 404, "not-found", "")
	r = ts.do("GET", "/Patient/p1/Nonsense", "", "")
	assertOutcome(t, r, 404, "not-found", "")
}

func TestSearchIncludes(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	searchData(ts)
	ts.put("Medication", "m1", `{"resourceType":"Medication","code":{"text":"Aspirin"}}`)
	ts.put("MedicationRequest", "mr1", `{"resourceType":"MedicationRequest","status":"active","intent":"order",
		"medicationReference":{"reference":"Medication/m1"},"subject":{"reference":"Patient/p1"}}`)
	ts.put("MedicationRequest", "mr2", `{"resourceType":"MedicationRequest","status":"active","intent":"order",
		"medicationCodeableConcept":{"text":"Ibuprofen"},"subject":{"reference":"Patient/p2"}}`)
	ts.put("Provenance", "prov1", `{"resourceType":"Provenance","recorded":"2020-01-01T00:00:00Z",
		"target":[{"reference":"MedicationRequest/mr1"}],"agent":[{"who":{"reference":"Practitioner/dr1"}}]}`)

	entries := func(path string) (match, include []string) {
		b := ts.searchBundle(path)
		for _, e := range b.Entry {
			id := e.Resource["resourceType"].(string) + "/" + e.Resource["id"].(string)
			if e.Search.Mode == "match" {
				match = append(match, id)
			} else {
				assert.Equal(t, "include", e.Search.Mode)
				include = append(include, id)
			}
		}
		sort.Strings(match)
		sort.Strings(include)
		return match, include
	}
	tests := []struct {
		path            string
		match, included []string
	}{
		{"/MedicationRequest?patient=p1&intent=order&_include=MedicationRequest:medication",
			[]string{"MedicationRequest/mr1"}, []string{"Medication/m1"}},
		{"/MedicationRequest?intent=order&_include=MedicationRequest:medication",
			[]string{"MedicationRequest/mr1", "MedicationRequest/mr2"}, []string{"Medication/m1"}},
		{"/MedicationRequest?_id=mr1&_include=MedicationRequest:patient&_include=MedicationRequest:medication",
			[]string{"MedicationRequest/mr1"}, []string{"Medication/m1", "Patient/p1"}},
		{"/MedicationRequest?_id=mr1&_include=MedicationRequest:subject:Group", []string{"MedicationRequest/mr1"}, nil},
		{"/MedicationRequest?_id=mr1&_include=*", []string{"MedicationRequest/mr1"}, []string{"Medication/m1", "Patient/p1"}},
		{"/MedicationRequest?_id=mr1&_revinclude=Provenance:target",
			[]string{"MedicationRequest/mr1"}, []string{"Provenance/prov1"}},
		{"/MedicationRequest?_id=mr1&_include=MedicationRequest:patient&_include:iterate=Patient:organization",
			[]string{"MedicationRequest/mr1"}, []string{"Organization/org1", "Patient/p1"}},
		{"/MedicationRequest?_id=mr1&_include=MedicationRequest:patient&_include=Patient:organization",
			[]string{"MedicationRequest/mr1"}, []string{"Patient/p1"}},
		{"/Patient?_id=p1&_revinclude=Observation:subject&_revinclude=MedicationRequest:patient",
			[]string{"Patient/p1"}, []string{"MedicationRequest/mr1", "Observation/o1", "Observation/o3"}},
		{"/Patient?_id=p1,dr1&_revinclude:iterate=Observation:patient&_revinclude=Patient:general-practitioner",
			[]string{"Patient/p1"}, []string{"Observation/o1", "Observation/o3"}},
	}
	for _, tt := range tests {
		match, inc := entries(tt.path)
		assert.Equal(t, tt.match, match, tt.path)
		assert.Equal(t, tt.included, inc, tt.path)
	}
	b := ts.searchBundle("/MedicationRequest?intent=order&_include=MedicationRequest:medication&_total=accurate")
	require.NotNil(t, b.Total)
	assert.Equal(t, 2, *b.Total, "included resources are not counted")
	assert.Contains(t, b.link("self"), "_include=MedicationRequest%3Amedication")

	for _, bad := range []string{"_include=Patient", "_include=Nope:x", "_include=MedicationRequest:status", "_include:deep=MedicationRequest:medication", "_revinclude=*"} {
		assertOutcome(t, ts.do("GET", "/MedicationRequest?"+bad, "", ""), 400, "invalid", "")
	}
}

// A token that may not read a type gets no resources of it included.
func TestSearchIncludesFollowScopes(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	searchData(ts)
	ts.put("Medication", "m1", `{"resourceType":"Medication"}`)
	ts.put("MedicationRequest", "mr1", `{"resourceType":"MedicationRequest","status":"active","intent":"order",
		"medicationReference":{"reference":"Medication/m1"},"subject":{"reference":"Patient/p1"}}`)
	_, ts.token = ts.clientToken("system/MedicationRequest.rs system/Patient.r")
	b := ts.searchBundle("/MedicationRequest?_id=mr1&_include=MedicationRequest:medication&_include=MedicationRequest:patient")
	var got []string
	for _, e := range b.Entry {
		got = append(got, e.Resource["resourceType"].(string))
	}
	assert.Equal(t, []string{"MedicationRequest", "Patient"}, got)
}

func TestSearchSort(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	searchData(ts)
	ts.put("Patient", "p3", `{"resourceType":"Patient","name":[{"family":"Adams"}],"gender":"female","birthDate":"1980-01-01"}`)
	order := func(path string) []string {
		var out []string
		for _, e := range ts.searchBundle(path).Entry {
			out = append(out, e.Resource["id"].(string))
		}
		return out
	}
	tests := []struct {
		path string
		want []string
	}{
		{"/Patient?_sort=family", []string{"p3", "p1", "p2"}}, // adams, angstrom, smith
		{"/Patient?_sort=-family", []string{"p2", "p1", "p3"}},
		{"/Patient?_sort=birthdate", []string{"p1", "p2", "p3"}},
		{"/Patient?_sort=-birthdate", []string{"p2", "p3", "p1"}},
		{"/Patient?_sort=gender,-_id", []string{"p3", "p1", "p2"}},
		{"/Patient?_sort=-_id", []string{"p3", "p2", "p1"}},
		{"/Patient?_sort=organization,_id", []string{"p1", "p2", "p3"}},
		{"/Observation?_sort=date", []string{"o1", "o2", "bp1", "o3"}},
		{"/Observation?_sort=-date", []string{"o3", "bp1", "o2", "o1"}}, // by the end of each range
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, order(tt.path), tt.path)
	}

	// pages of a sorted search, by offset in the snapshot
	var seen []string
	page := ts.searchBundle("/Patient?_sort=-family&_count=2")
	for {
		for _, e := range page.Entry {
			seen = append(seen, e.Resource["id"].(string))
		}
		next := page.link("next")
		if next == "" {
			break
		}
		ts.put("Patient", "p0", `{"resourceType":"Patient","name":[{"family":"Zz"}]}`)
		page = ts.searchBundle(strings.TrimPrefix(next, ts.URL))
	}
	assert.Equal(t, []string{"p2", "p1", "p3"}, seen, "p0, written while paging, is not in the snapshot")
	assert.Contains(t, page.link("previous"), "_offset=0")
	assertOutcome(t, ts.do("GET", "/Patient?_sort=frobnicate", "", ""), 400, "invalid", "_sort")
}

func TestSearchSummaryAndElements(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	searchData(ts)
	keys := func(path string) [][]string {
		var out [][]string
		for _, e := range ts.searchBundle(path).Entry {
			var ks []string
			for k := range e.Resource {
				ks = append(ks, k)
			}
			sort.Strings(ks)
			out = append(out, ks)
		}
		return out
	}
	tags := func(path string) []any {
		b := ts.searchBundle(path)
		require.NotEmpty(t, b.Entry)
		meta := b.Entry[0].Resource["meta"].(map[string]any)
		tags, _ := meta["tag"].([]any)
		return tags
	}
	assert.Equal(t, [][]string{{"gender", "id", "meta", "name", "resourceType"}}, keys("/Patient?_id=p2&_elements=name,gender"))
	assert.Equal(t, [][]string{{"code", "id", "meta", "resourceType", "status", "subject"}}, keys("/Observation?_id=o3&_elements=subject"),
		"status and code are mandatory")
	assert.Equal(t, [][]string{{"active", "birthDate", "gender", "id", "identifier", "managingOrganization", "meta", "name", "resourceType"}},
		keys("/Patient?_id=p1&_summary=true"), "generalPractitioner is not a summary element")
	assert.Equal(t, [][]string{{"code", "effectiveDateTime", "id", "meta", "resourceType", "status", "subject", "valueQuantity"}},
		keys("/Observation?_id=o1&_summary=true"), "choice elements by their typed names; category is not in the summary")
	assert.Equal(t, [][]string{{"code", "id", "meta", "resourceType", "status"}}, keys("/Observation?_id=o1&_summary=text"))
	assert.Contains(t, tags("/Patient?_id=p2&_elements=name"), map[string]any{"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "code": "SUBSETTED"})
	assert.Empty(t, tags("/Patient?_id=p2&_summary=false"))

	ts.put("Patient", "p9", `{"resourceType":"Patient","text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">x</div>"},"gender":"other"}`)
	assert.Equal(t, [][]string{{"gender", "id", "meta", "resourceType"}}, keys("/Patient?_id=p9&_summary=data"))
	assert.Equal(t, [][]string{{"id", "meta", "resourceType", "text"}}, keys("/Patient?_id=p9&_summary=text"))

	b := ts.searchBundle("/Observation?patient=p1&_summary=count")
	assert.Empty(t, b.Entry)
	require.NotNil(t, b.Total)
	assert.Equal(t, 2, *b.Total)
	assertOutcome(t, ts.do("GET", "/Patient?_summary=maybe", "", ""), 400, "invalid", "_summary")
}
