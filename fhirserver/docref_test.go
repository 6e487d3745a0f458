package fhirserver_test

import (
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	ccd       = `{"coding":[{"system":"http://loinc.org","code":"34133-9"}]}`
	discharge = `{"coding":[{"system":"http://loinc.org","code":"18842-5"}]}`
)

// docrefData gives p1 two CCDs, a discharge summary and a CCD entered in
// error, and p2 a CCD of its own.
func docrefData(ts *testServer) {
	doc := func(id, patient, status, typ, date, start, end string) {
		ts.put("DocumentReference", id, fmt.Sprintf(`{"resourceType":"DocumentReference","status":%q,"type":%s,
			"subject":{"reference":"Patient/%s"},"date":%q,"context":{"period":{"start":%q,"end":%q}},
			"content":[{"attachment":{"contentType":"application/xml","url":"Binary/%s"}}]}`, status, typ, patient, date, start, end, id))
	}
	doc("d1", "p1", "current", ccd, "2024-01-10T09:00:00Z", "2024-01-01", "2024-01-05")
	doc("d2", "p1", "current", ccd, "2024-03-10T09:00:00Z", "2024-03-01", "2024-03-02")
	doc("d3", "p1", "current", discharge, "2024-04-01T09:00:00Z", "2024-02-10", "2024-02-12")
	doc("d4", "p2", "current", ccd, "2024-05-01T09:00:00Z", "2024-03-01", "2024-03-02")
	doc("d5", "p1", "entered-in-error", ccd, "2024-06-01T09:00:00Z", "2024-03-01", "2024-03-02")
}

// parametersOf writes a $docref Parameters body: name=value pairs, the
// value a JSON value with its type, such as valueId:"p1".
func parametersOf(params ...string) string {
	var ps []string
	for _, p := range params {
		name, value, _ := strings.Cut(p, "=")
		typ, v, _ := strings.Cut(value, ":")
		ps = append(ps, fmt.Sprintf(`{"name":%q,%q:%s}`, name, typ, v))
	}
	return `{"resourceType":"Parameters","parameter":[` + strings.Join(ps, ",") + `]}`
}

// DocumentReference/$docref answers the patient's document references: the
// latest CCD without dates, those whose care period overlaps start and end
// otherwise, filtered by type; under a search's scopes and reach.
func TestDocRef(t *testing.T) {
	t.Parallel()
	ts := launchServer(t)
	docrefData(ts)
	patient := launchToken(t, ts, "launch/patient openid fhirUser patient/*.rs", nil, nil)["access_token"].(string)
	tokens := map[string]string{"system": ts.token, "patient p1": patient, "none": "",
		"Observation only": ts.tokenFor("system/Observation.rs")}
	const loincDischarge = `{"system":"http://loinc.org","code":"18842-5"}`
	for _, tc := range []struct {
		name, token, query, body string // a POST when body is set
		want                     int
		ids                      []string
	}{
		{"the latest CCD", "system", "patient=p1", "", 200, []string{"d2"}},
		{"the latest CCD by POST", "system", "", parametersOf(`patient=valueId:"p1"`), 200, []string{"d2"}},
		{"a range", "system", "patient=p1&start=2024-01-01&end=2024-01-31", "", 200, []string{"d1"}},
		{"a range by POST", "system", "", parametersOf(`patient=valueId:"p1"`, `start=valueDateTime:"2024-01-01T00:00:00Z"`, `end=valueDateTime:"2024-01-31T23:59:59Z"`), 200, []string{"d1"}},
		{"from start on", "system", "patient=p1&start=2024-02-11", "", 200, []string{"d2", "d3"}},
		{"start within a period's last day", "system", "patient=p1&start=2024-01-05T12:00:00Z", "", 200, []string{"d1", "d2", "d3"}},
		{"start after a period", "system", "patient=p1&start=2024-01-06T00:00:00Z&end=2024-01-31", "", 200, []string{}},
		{"up to end", "system", "patient=p1&end=2024-01-03", "", 200, []string{"d1"}},
		{"a type in a range", "system", "patient=p1&start=2024-01-01&type=http://loinc.org|18842-5", "", 200, []string{"d3"}},
		{"the latest of a type", "system", "patient=p1&type=http://loinc.org|18842-5", "", 200, []string{"d3"}},
		{"any of types", "system", "patient=p1&start=2024-01-01&type=http://loinc.org|18842-5&type=http://loinc.org|34133-9", "", 200, []string{"d1", "d2", "d3"}},
		{"a type by POST", "system", "", parametersOf(`patient=valueId:"p1"`, `start=valueDateTime:"2024-01-01"`, `type=valueCoding:`+loincDischarge), 200, []string{"d3"}},
		{"on-demand: the existing ones", "system", "patient=p1&on-demand=true", "", 200, []string{"d2"}},
		{"on-demand by POST", "system", "", parametersOf(`patient=valueId:"p1"`, `on-demand=valueBoolean:true`), 200, []string{"d2"}},
		{"a profile none has", "system", "patient=p1&profile=http://example.org/none", "", 200, []string{}},
		{"an unknown patient", "system", "patient=nobody", "", 200, []string{}},
		{"a patient's own", "patient p1", "patient=p1", "", 200, []string{"d2"}},
		{"another patient's, to a patient", "patient p1", "patient=p2", "", 200, []string{}},
		{"another patient's, to the system", "system", "patient=p2", "", 200, []string{"d4"}},
		{"without the scope to search them", "Observation only", "patient=p1", "", 403, nil},
		{"without a token", "none", "patient=p1", "", 401, nil},
		{"no patient", "system", "start=2024-01-01", "", 400, nil},
		{"no patient by POST", "system", "", parametersOf(`start=valueDateTime:"2024-01-01"`), 400, nil},
		{"two patients", "system", "patient=p1&patient=p2", "", 400, nil},
		{"not an id", "system", "patient=Patient/p1", "", 400, nil},
		{"a bad start", "system", "patient=p1&start=yesterday", "", 400, nil},
		{"a bad end", "system", "patient=p1&end=2024-13-01", "", 400, nil},
		{"end before start", "system", "patient=p1&start=2024-02-01&end=2024-01-01", "", 400, nil},
		{"a bad on-demand", "system", "patient=p1&on-demand=maybe", "", 400, nil},
		{"a bad date by POST", "system", "", parametersOf(`patient=valueId:"p1"`, `start=valueDateTime:"soon"`), 400, nil},
		{"a value of the wrong type", "system", "", parametersOf(`patient=valueId:"p1"`, `type=valueString:"34133-9"`), 400, nil},
		{"not Parameters", "system", "", `{"resourceType":"Patient"}`, 400, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var r response
			if tc.body != "" {
				r = ts.doWith(tokens[tc.token], "POST", "/DocumentReference/$docref", fhirJSON, tc.body)
			} else {
				r = ts.doWith(tokens[tc.token], "GET", "/DocumentReference/$docref?"+tc.query, "", "")
			}
			if tc.want != 200 {
				assert.Equal(t, tc.want, r.Status, "%s", r.Body)
				assert.Equal(t, "OperationOutcome", r.json(t)["resourceType"])
				return
			}
			require.Equal(t, 200, r.Status, "%s", r.Body)
			var b searchset
			require.NoError(t, json.Unmarshal(r.Body, &b))
			assert.Equal(t, "searchset", b.Type)
			ids := []string{}
			for _, e := range b.Entry {
				assert.Equal(t, "match", e.Search.Mode)
				ids = append(ids, e.Resource["id"].(string))
			}
			sort.Strings(ids)
			assert.Equal(t, tc.ids, ids)
		})
	}
	// Audited as the operation, with the documents it returned.
	require.Equal(t, 200, ts.do("GET", "/DocumentReference/$docref?patient=p1", "", "").Status)
	events := auditEvents(t, ts)
	got := summarize(events[len(events)-1])
	assert.Equal(t, "operation", got.Interaction)
	assert.Equal(t, []string{"DocumentReference/d2"}, got.Entities)
	q, err := url.ParseQuery(got.Query)
	require.NoError(t, err)
	assert.Equal(t, "p1", q.Get("patient"), "the search it ran")
}

// $docref is claimed under US Core's canonical, with how this server
// answers it, and its definition is served as US Core publishes it.
func TestDocRefDefinition(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	const canonical = "http://hl7.org/fhir/us/core/OperationDefinition/docref"
	var claimed bool
	for _, r := range metadata(t, ts).Rest[0].Resource {
		for _, o := range r.Operation {
			if o.Name == "docref" {
				claimed = r.Type == "DocumentReference" && o.Definition == canonical
			}
		}
	}
	assert.True(t, claimed, "DocumentReference $docref under %s", canonical)
	assert.Contains(t, string(ts.do("GET", "/metadata", "", "").Body), "on-demand=true returns the existing ones")
	got := ts.do("GET", "/OperationDefinition/DocumentReference-docref", "", "")
	require.Equal(t, 200, got.Status, "%s", got.Body)
	def := got.json(t)
	assert.Equal(t, canonical, def["url"])
	assert.Equal(t, "6.1.0", def["version"])
	assert.Equal(t, "docref", def["code"])
	v := ts.do("POST", "/OperationDefinition/$validate", fhirJSON, string(got.Body))
	assert.Equal(t, `{"resourceType":"OperationOutcome","issue":[{"severity":"information","code":"informational","diagnostics":"the resource is valid"}]}`, string(v.Body))
}
