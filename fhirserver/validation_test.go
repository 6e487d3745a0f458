package fhirserver_test

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirserver/fhirserver/conformance/fixtures"
	"github.com/fhirserver/fhirserver/profiles"
)

const usCorePatient = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient"

// issues lists an OperationOutcome's issues as "severity code expression".
func issues(t *testing.T, r response) []string {
	t.Helper()
	oo := r.json(t)
	require.Equal(t, "OperationOutcome", oo["resourceType"], "%s", r.Body)
	var out []string
	for _, x := range oo["issue"].([]any) {
		is := x.(map[string]any)
		line := is["severity"].(string) + " " + is["code"].(string)
		if ex, ok := is["expression"].([]any); ok && len(ex) > 0 {
			line += " " + ex[0].(string)
		}
		out = append(out, line)
	}
	return out
}

// A write that breaks the profile it claims is refused with 422 and every
// issue; one that is not valid R4 with 400; neither stores anything, in a
// transaction neither does any other entry.
func TestWritesAreHeldToTheirProfiles(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	claims := `{"resourceType":"Patient","id":"p1","meta":{"profile":["` + usCorePatient + `|6.1.0"]},"name":[{"family":"Doe"}]}`
	r := ts.do("PUT", "/Patient/p1", fhirJSON, claims)
	require.Equal(t, 422, r.Status, "%s", r.Body)
	assert.Equal(t, []string{"error required Patient.gender", "error required Patient.identifier"}, issues(t, r))
	r = ts.do("PUT", "/Patient/p1", fhirJSON, strings.Replace(claims, "|6.1.0", "", 1))
	require.Equal(t, 422, r.Status, "in no version held: %s", r.Body)
	assert.Equal(t, []string{"error required Patient.identifier"}, issues(t, r),
		"8.0.0 (gender optional) is nearest")
	assert.Equal(t, 404, ts.do("GET", "/Patient/p1", "", "").Status, "nothing stored")

	r = ts.do("POST", "/Patient", fhirJSON, `{"resourceType":"Patient","meta":{"profile":["`+usCorePatient+`"]},"gender":"F"}`)
	require.Equal(t, 400, r.Status, "not valid R4 outranks not conformant: %s", r.Body)
	assert.Contains(t, issues(t, r), "error code-invalid Patient.gender")
	assert.Contains(t, issues(t, r), "error required Patient.name")

	tx := `{"resourceType":"Bundle","type":"transaction","entry":[
		{"request":{"method":"PUT","url":"Patient/ok"},"resource":{"resourceType":"Patient","id":"ok"}},
		{"request":{"method":"PUT","url":"Patient/p1"},"resource":` + claims + `}]}`
	r = ts.do("POST", "", fhirJSON, tx)
	require.Equal(t, 422, r.Status, "%s", r.Body)
	assert.Contains(t, issues(t, r), "error required Bundle.entry[1].resource.gender")
	assert.Equal(t, 404, ts.do("GET", "/Patient/ok", "", "").Status, "no entry of a refused transaction is stored")

	conformant := `{"resourceType":"Patient","id":"p1","meta":{"profile":["` + usCorePatient + `"]},"identifier":[{"system":"http://example.org/mrn","value":"1"}],"name":[{"family":"Doe"}],"gender":"female"}`
	assert.Equal(t, 201, ts.do("PUT", "/Patient/p1", fhirJSON, conformant).Status)
}

// A profile the server does not know is a warning, or, under
// --strict-profiles, a refusal; under --profile-errors warn a departure
// from a known one is stored with warnings.
func TestProfileHandlingIsConfigurable(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	unknown := `{"resourceType":"Patient","meta":{"profile":["http://example.org/StructureDefinition/mine"]}}`
	r := ts.do("POST", "/Patient", fhirJSON, unknown, "Prefer", "return=OperationOutcome")
	require.Equal(t, 201, r.Status, "%s", r.Body)
	assert.Contains(t, string(r.Body), "http://example.org/StructureDefinition/mine is not known here")

	ts.res.SetValidation(profiles.Options{Strict: true})
	r = ts.do("POST", "/Patient", fhirJSON, unknown)
	require.Equal(t, 422, r.Status, "%s", r.Body)
	assert.Equal(t, []string{"error not-supported Patient.meta.profile[0]"}, issues(t, r))

	ts.res.SetValidation(profiles.Options{Lenient: true})
	r = ts.do("PUT", "/Patient/p9", fhirJSON, `{"resourceType":"Patient","id":"p9","meta":{"profile":["`+usCorePatient+`|6.1.0"]},"name":[{"family":"Doe"}]}`, "Prefer", "return=OperationOutcome")
	require.Equal(t, 201, r.Status, "%s", r.Body)
	assert.Contains(t, string(r.Body), "Patient.gender: at least 1 required by the profile")
}

// $validate answers every issue in an OperationOutcome with 200, at type
// and instance level, in every mode, and stores nothing.
func TestValidateOperation(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	ts.put("Patient", "p1", `{"resourceType":"Patient","id":"p1"}`)
	tests := []struct {
		name, method, path, body string
		want                     []string
	}{
		{"valid", "POST", "/Patient/$validate", `{"resourceType":"Patient","gender":"female"}`, []string{"information informational"}},
		{"invalid R4", "POST", "/Patient/$validate", `{"resourceType":"Patient","gender":"F","birthDate":"1970-13-01"}`,
			[]string{"error value Patient.birthDate", "error code-invalid Patient.gender"}},
		{"claimed profile", "POST", "/Patient/$validate", `{"resourceType":"Patient","meta":{"profile":["` + usCorePatient + `"]},"gender":"male"}`,
			[]string{"error required Patient.identifier", "error required Patient.name"}},
		{"profile parameter", "POST", "/Patient/$validate?profile=" + usCorePatient, `{"resourceType":"Patient","gender":"male"}`,
			[]string{"error required Patient.identifier", "error required Patient.name"}},
		{"profile parameter with a version", "POST", "/Patient/$validate?profile=" + url.QueryEscape(usCorePatient+"|6.1.0"), `{"resourceType":"Patient","name":[{"family":"Doe"}]}`,
			[]string{"error required Patient.gender", "error required Patient.identifier"}},
		{"Parameters with mode and profile", "POST", "/Patient/$validate", `{"resourceType":"Parameters","parameter":[
			{"name":"resource","resource":{"resourceType":"Patient","gender":"male"}},{"name":"mode","valueCode":"profile"},
			{"name":"profile","valueUri":"` + usCorePatient + `|3.1.1"}]}`, []string{"error required Patient.identifier", "error required Patient.name"}},
		{"wrong type", "POST", "/Observation/$validate", `{"resourceType":"Patient"}`, []string{"error invalid resourceType"}},
		{"update needs the id", "POST", "/Patient/p1/$validate", `{"resourceType":"Patient","id":"p2"}`, []string{"error invalid Patient.id"}},
		{"update", "POST", "/Patient/p1/$validate?mode=update", `{"resourceType":"Patient","id":"p1","active":true}`, []string{"information informational"}},
		{"delete", "GET", "/Patient/p1/$validate?mode=delete", "", []string{"information informational"}},
		{"delete of nothing", "GET", "/Patient/nope/$validate?mode=delete", "", []string{"error not-found"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := ts.do(tc.method, tc.path, fhirJSON, tc.body)
			require.Equal(t, 200, r.Status, "%s", r.Body)
			assert.Equal(t, tc.want, issues(t, r))
		})
	}
	for _, bad := range []struct{ path, body string }{
		{"/Patient/$validate?mode=replace", `{"resourceType":"Patient"}`},
		{"/Patient/$validate", `{"resourceType":"Parameters","parameter":[{"name":"mode","valueCode":"create"}]}`},
		{"/Patient/$validate?mode=delete", ``},
	} {
		r := ts.do("POST", bad.path, fhirJSON, bad.body)
		assert.Equal(t, 400, r.Status, "%s %s: %s", bad.path, bad.body, r.Body)
	}
	h := ts.do("GET", "/Patient/_history", "", "").json(t)
	assert.Len(t, h["entry"], 1, "$validate stores nothing")
}

// $validate holds a US Core example to its own version by a versioned
// profile parameter: the example of 3.1.1, 6.1.0 and 8.0.0 each passes,
// and each with its name removed fails.
func TestValidateAgainstEachUSCoreVersion(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	for _, version := range []string{"3.1.1", "6.1.0", "8.0.0"} {
		example := fixtures.USCoreExamples(t, version)["Patient-example.json"]
		require.NotNil(t, example, version)
		profile := url.QueryEscape(usCorePatient + "|" + version)
		r := ts.do("POST", "/Patient/$validate?profile="+profile, fhirJSON, string(example))
		require.Equal(t, 200, r.Status, "%s", r.Body)
		for _, line := range issues(t, r) {
			assert.False(t, strings.HasPrefix(line, "error"), "%s: %s", version, line)
		}
		var broken map[string]any
		require.NoError(t, json.Unmarshal(example, &broken))
		delete(broken, "name")
		body, _ := json.Marshal(broken)
		r = ts.do("POST", "/Patient/$validate?profile="+profile, fhirJSON, string(body))
		require.Equal(t, 200, r.Status, "%s", r.Body)
		assert.Contains(t, issues(t, r), "error required Patient.name", version)
	}
}

// Two values of one choice element are refused with 400 naming it, at the
// root, in a backbone element and in an extension, on create, update and
// in a transaction, and nothing is stored.
func TestTwoValuesOfOneChoiceAreRefused(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	tests := []struct{ name, body, want string }{
		{"root", `{"resourceType":"Observation","id":"o1","status":"final","code":{"text":"x"},"valueString":"a","valueBoolean":true}`,
			"Observation.value[x]: one value of one type only, but valueBoolean and valueString are present"},
		{"component", `{"resourceType":"Observation","id":"o1","status":"final","code":{"text":"x"},
			"component":[{"code":{"text":"c"},"valueString":"a","valueInteger":1}]}`,
			"Observation.component.value[x]: one value of one type only, but valueInteger and valueString are present"},
		{"extension", `{"resourceType":"Observation","id":"o1","status":"final","code":{"text":"x"},
			"extension":[{"url":"http://example.org/e","valueString":"a","valueCode":"b"}]}`,
			"Extension.value[x]: one value of one type only, but valueCode and valueString are present"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, r := range []response{
				ts.do("POST", "/Observation", fhirJSON, tc.body),
				ts.do("PUT", "/Observation/o1", fhirJSON, tc.body),
				ts.do("POST", "", fhirJSON, `{"resourceType":"Bundle","type":"transaction","entry":[{"request":{"method":"PUT","url":"Observation/o1"},"resource":`+tc.body+`}]}`),
			} {
				require.Equal(t, 400, r.Status, "%s", r.Body)
				assert.Contains(t, string(r.Body), tc.want)
			}
			assert.Equal(t, 404, ts.do("GET", "/Observation/o1", "", "").Status)
		})
	}
}
