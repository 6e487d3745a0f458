package fhirserver_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/fhirserver/fhirserver/fhirserver"
)

// Every bad request gets an OperationOutcome with the specification's
// status, and writes nothing.
func TestBadInput(t *testing.T) {
	t.Parallel()
	ts := newServer(t, func(c *fhirserver.Config) { c.MaxBodyBytes = 4096 })
	ts.do("PUT", "/Patient/p", fhirJSON, `{"resourceType":"Patient","id":"p"}`)
	tests := []struct {
		name, method, path, contentType, body string
		headers                               []string
		status                                int
		code, expression                      string
	}{
		{"malformed JSON", "POST", "/Patient", fhirJSON, `{"resourceType":"Patient",`, nil, 400, "structure", ""},
		{"not an object", "POST", "/Patient", fhirJSON, `[1]`, nil, 400, "structure", ""},
		{"empty body", "POST", "/Patient", fhirJSON, ``, nil, 400, "required", ""},
		{"unknown type in URL", "GET", "/Patientx/1", "", "", nil, 404, "not-found", ""},
		{"unknown type create", "POST", "/Patientx", fhirJSON, `{"resourceType":"Patientx"}`, nil, 404, "not-found", ""},
		{"unknown type in body", "POST", "/Patient", fhirJSON, `{"resourceType":"Patientx"}`, nil, 400, "value", "Resource.resourceType"},
		{"type mismatch", "POST", "/Patient", fhirJSON, `{"resourceType":"Observation","status":"final","code":{"text":"x"}}`, nil, 400, "invalid", "Observation.resourceType"},
		{"id mismatch", "PUT", "/Patient/p", fhirJSON, `{"resourceType":"Patient","id":"q"}`, nil, 400, "invalid", "Patient.id"},
		{"id missing on update", "PUT", "/Patient/p", fhirJSON, `{"resourceType":"Patient"}`, nil, 400, "required", "Patient.id"},
		{"invalid id", "PUT", "/Patient/a_b", fhirJSON, `{"resourceType":"Patient","id":"a_b"}`, nil, 400, "value", "Patient.id"},
		{"invalid code", "POST", "/Patient", fhirJSON, `{"resourceType":"Patient","gender":"F"}`, nil, 400, "code-invalid", "Patient.gender"},
		{"invalid nested value", "POST", "/Patient", fhirJSON, `{"resourceType":"Patient","name":[{"given":[1]}]}`, nil, 400, "value", "Patient.name[0].given[0]"},
		{"wrong content type", "POST", "/Patient", "application/xml", `<Patient/>`, nil, 415, "not-supported", ""},
		{"no content type", "POST", "/Patient", "", `{"resourceType":"Patient"}`, nil, 415, "not-supported", ""},
		{"patch with fhir+json", "PATCH", "/Patient/p", fhirJSON, `[]`, nil, 415, "not-supported", ""},
		{"too large", "POST", "/Patient", fhirJSON, `{"resourceType":"Patient","text":{"status":"generated","div":"` + strings.Repeat("x", 5000) + `"}}`, nil, 413, "too-long", ""},
		{"xml wanted", "GET", "/Patient/p", "", "", []string{"Accept", "application/fhir+xml"}, 406, "not-supported", ""},
		{"xml format", "GET", "/Patient/p?_format=xml", "", "", nil, 406, "not-supported", ""},
		{"unsupported interaction", "POST", "/Patient/p", fhirJSON, `{"resourceType":"Patient"}`, nil, 405, "not-supported", ""},
		{"unsupported system interaction", "DELETE", "", "", "", nil, 405, "not-supported", ""},
		{"bad _count", "GET", "/Patient?_count=x", "", "", nil, 400, "invalid", "_count"},
		{"bad _since", "GET", "/Patient/_history?_since=yesterday", "", "", nil, 400, "invalid", "_since"},
		{"strict unknown parameter", "GET", "/Patient?colour=blue", "", "", []string{"Prefer", "handling=strict"}, 400, "not-supported", "colour"},
		{"conditional delete without criteria", "DELETE", "/Patient", "", "", nil, 400, "invalid", ""},
		{"conditional update unknown criterion", "PUT", "/Patient?frobnicate=x", fhirJSON, `{"resourceType":"Patient"}`, nil, 400, "not-supported", "frobnicate"},
		{"bundle of wrong type", "POST", "", fhirJSON, `{"resourceType":"Bundle","type":"collection"}`, nil, 400, "invalid", "Bundle.type"},
		{"not a bundle", "POST", "", fhirJSON, `{"resourceType":"Patient"}`, nil, 400, "invalid", ""},
		{"bundle entry without request", "POST", "", fhirJSON, `{"resourceType":"Bundle","type":"transaction","entry":[{"resource":{"resourceType":"Patient"}}]}`, nil, 400, "invariant", "Bundle"}, // bdl-3
		{"bundle entry bad resource", "POST", "", fhirJSON, `{"resourceType":"Bundle","type":"transaction","entry":[{"resource":{"resourceType":"Patient","gender":"F"},"request":{"method":"POST","url":"Patient"}}]}`, nil, 400, "code-invalid", "Bundle.entry[0].resource.gender"},
		{"vread bad version", "GET", "/Patient/p/_history/x", "", "", nil, 404, "not-found", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := ts.do(tc.method, tc.path, tc.contentType, tc.body, tc.headers...)
			assertOutcome(t, r, tc.status, tc.code, tc.expression)
		})
	}
	h := ts.do("GET", "/_history", "", "").json(t)
	assert.Len(t, h["entry"], 1, "nothing but the first PUT was written")
}

func TestUnauthenticated(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	ts.token = ""
	for _, path := range []string{"/Patient/p", "/Patient", "/_history"} {
		r := ts.do("GET", path, "", "")
		assertOutcome(t, r, 401, "login", "")
		assert.Contains(t, r.Header.Get("WWW-Authenticate"), "Bearer")
	}
	ts.token = "wrong"
	assertOutcome(t, ts.do("POST", "", fhirJSON, `{"resourceType":"Bundle","type":"batch"}`), 401, "login", "")
	ts.token = ""
	assert.Equal(t, 200, ts.do("GET", "/metadata", "", "").Status, "metadata needs no token")
}
