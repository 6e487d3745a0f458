package fhirserver_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const patient = `{"resourceType":"Patient","identifier":[{"system":"urn:mrn","value":"m1"}],"gender":"female",
	"birthDate":"1970-01-01","_birthDate":{"extension":[{"url":"http://hl7.org/fhir/StructureDefinition/patient-birthTime","valueDateTime":"1970-01-01T12:00:00Z"}]},
	"contained":[{"resourceType":"Organization","id":"o1","name":"Clinic"}],"managingOrganization":{"reference":"#o1"},
	"extension":[{"url":"http://example.org/weight","valueDecimal":70.50}]}`

func TestCreateReadRoundTrip(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	r := ts.do("POST", "/Patient", fhirJSON, patient)
	require.Equal(t, 201, r.Status, "%s", r.Body)
	created := r.json(t)
	id := created["id"].(string)
	assert.Equal(t, fmt.Sprintf("%s/Patient/%s/_history/1", ts.URL, id), r.Header.Get("Location"))
	assert.Equal(t, `W/"1"`, r.Header.Get("ETag"))
	assert.NotEmpty(t, r.Header.Get("Last-Modified"))

	got := ts.do("GET", "/Patient/"+id, "", "")
	require.Equal(t, 200, got.Status)
	assert.Equal(t, `W/"1"`, got.Header.Get("ETag"))
	m := got.json(t)
	meta := m["meta"].(map[string]any)
	assert.Equal(t, "1", meta["versionId"])
	assert.NotEmpty(t, meta["lastUpdated"])
	// what was sent, plus id and meta, and nothing lost
	want := map[string]any{}
	require.NoError(t, jsonUnmarshal(patient, &want))
	want["id"], want["meta"] = id, meta
	assert.Equal(t, want, m)
	assert.Contains(t, string(got.Body), "70.50", "decimal precision is kept")
}

func TestUpdateVersionsAndHistory(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	r := ts.do("PUT", "/Patient/p1", fhirJSON, `{"resourceType":"Patient","id":"p1","active":true}`)
	require.Equal(t, 201, r.Status, "update as create: %s", r.Body)
	r = ts.do("PUT", "/Patient/p1", fhirJSON, `{"resourceType":"Patient","id":"p1","active":false}`)
	require.Equal(t, 200, r.Status)
	assert.Equal(t, `W/"2"`, r.Header.Get("ETag"))

	v1 := ts.do("GET", "/Patient/p1/_history/1", "", "")
	require.Equal(t, 200, v1.Status)
	assert.Equal(t, true, v1.json(t)["active"])
	assertOutcome(t, ts.do("GET", "/Patient/p1/_history/9", "", ""), 404, "not-found", "")

	h := ts.do("GET", "/Patient/p1/_history", "", "").json(t)
	assert.Equal(t, "history", h["type"])
	entries := h["entry"].([]any)
	require.Len(t, entries, 2)
	assert.Equal(t, "2", entries[0].(map[string]any)["resource"].(map[string]any)["meta"].(map[string]any)["versionId"])
}

func TestDeleteLeavesATombstone(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	id := ts.create("Patient", `{"resourceType":"Patient"}`)["id"].(string)
	r := ts.do("DELETE", "/Patient/"+id, "", "")
	assert.Equal(t, 204, r.Status)
	assert.Equal(t, `W/"2"`, r.Header.Get("ETag"))
	assertOutcome(t, ts.do("GET", "/Patient/"+id, "", ""), 410, "deleted", "")
	assert.Equal(t, 200, ts.do("GET", "/Patient/"+id+"/_history/1", "", "").Status, "old versions stay readable")
	assert.Equal(t, 204, ts.do("DELETE", "/Patient/"+id, "", "").Status, "deleting again is fine")
	assert.Equal(t, 204, ts.do("DELETE", "/Patient/never", "", "").Status)

	h := ts.do("GET", "/Patient/"+id+"/_history", "", "").json(t)
	entries := h["entry"].([]any)
	require.Len(t, entries, 2, "the second delete wrote nothing")
	first := entries[0].(map[string]any)
	assert.Equal(t, "DELETE", first["request"].(map[string]any)["method"])
	assert.Nil(t, first["resource"])

	r = ts.do("PUT", "/Patient/"+id, fhirJSON, `{"resourceType":"Patient","id":"`+id+`"}`)
	assert.Equal(t, 200, r.Status, "an update brings it back")
	assert.Equal(t, `W/"3"`, r.Header.Get("ETag"))
}

func TestIfMatch(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	ts.do("PUT", "/Patient/p", fhirJSON, `{"resourceType":"Patient","id":"p"}`)
	body := `{"resourceType":"Patient","id":"p","active":true}`
	assertOutcome(t, ts.do("PUT", "/Patient/p", fhirJSON, body, "If-Match", `W/"2"`), 412, "conflict", "")
	assert.Equal(t, 200, ts.do("PUT", "/Patient/p", fhirJSON, body, "If-Match", `W/"1"`).Status)
	assertOutcome(t, ts.do("PUT", "/Patient/p", fhirJSON, body, "If-Match", `W/"1"`), 412, "conflict", "")
	assertOutcome(t, ts.do("PUT", "/Patient/p", fhirJSON, body, "If-Match", `nonsense`), 400, "invalid", "")
	assertOutcome(t, ts.do("DELETE", "/Patient/p", "", "", "If-Match", `W/"1"`), 412, "conflict", "")
	assertOutcome(t, ts.do("PATCH", "/Patient/p", "application/json-patch+json", `[]`, "If-Match", `W/"1"`), 412, "conflict", "")
}

func TestPrefer(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	r := ts.do("POST", "/Patient", fhirJSON, `{"resourceType":"Patient"}`, "Prefer", "return=minimal")
	assert.Equal(t, 201, r.Status)
	assert.Empty(t, r.Body)
	assert.NotEmpty(t, r.Header.Get("Location"))
	r = ts.do("POST", "/Patient", fhirJSON, `{"resourceType":"Patient","colour":"blue"}`, "Prefer", "return=OperationOutcome")
	assert.Equal(t, 201, r.Status)
	oo := r.json(t)
	assert.Equal(t, "OperationOutcome", oo["resourceType"])
	assert.Contains(t, string(r.Body), "colour", "unknown elements are reported as warnings")
	r = ts.do("POST", "/Patient", fhirJSON, `{"resourceType":"Patient"}`, "Prefer", "return=representation")
	assert.Equal(t, "Patient", r.json(t)["resourceType"])
}

func TestPatch(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	id := ts.create("Patient", `{"resourceType":"Patient","active":true}`)["id"].(string)
	r := ts.do("PATCH", "/Patient/"+id, "application/json-patch+json", `[{"op":"replace","path":"/active","value":false},{"op":"add","path":"/gender","value":"male"}]`)
	require.Equal(t, 200, r.Status, "%s", r.Body)
	m := r.json(t)
	assert.Equal(t, false, m["active"])
	assert.Equal(t, "male", m["gender"])
	assert.Equal(t, `W/"2"`, r.Header.Get("ETag"))

	tests := []struct {
		name, doc, code string
		status          int
	}{
		{"not a patch", `{"op":"x"}`, "structure", 400},
		{"bad path", `[{"op":"replace","path":"/nothing/here","value":1}]`, "processing", 422},
		{"invalid result", `[{"op":"replace","path":"/gender","value":"F"}]`, "code-invalid", 400},
		{"changes id", `[{"op":"replace","path":"/id","value":"other"}]`, "processing", 422},
		{"result breaks the profile it claims", `[{"op":"add","path":"/meta","value":{"profile":["http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient"]}}]`, "required", 422},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assertOutcome(t, ts.do("PATCH", "/Patient/"+id, "application/json-patch+json", tc.doc), tc.status, tc.code, "")
		})
	}
	assertOutcome(t, ts.do("PATCH", "/Patient/nope", "application/json-patch+json", `[]`), 404, "not-found", "")
	assert.Equal(t, `W/"2"`, ts.do("GET", "/Patient/"+id, "", "").Header.Get("ETag"), "failed patches wrote nothing")
}

// A resource over net/http's 2 KiB chunking buffer still goes out with a
// Content-Length, in one write instead of chunks.
func TestLargeResponseHasContentLength(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	long := strings.Repeat("x", 5000)
	id := ts.create("Patient", `{"resourceType":"Patient","name":[{"text":"`+long+`"}]}`)["id"].(string)
	got := ts.do("GET", "/Patient/"+id, "", "")
	require.Equal(t, 200, got.Status)
	assert.Equal(t, strconv.Itoa(len(got.Body)), got.Header.Get("Content-Length"))
	assert.Greater(t, len(got.Body), 5000)
}
