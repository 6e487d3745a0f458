package fhirserver_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// slashed puts one trailing slash on a path, before its query.
func slashed(path string) string {
	p, q, hasQuery := strings.Cut(path, "?")
	if hasQuery {
		return p + "/?" + q
	}
	return p + "/"
}

// A FHIR path with one trailing slash is the same request as without it:
// the same answer, and the same authentication, scopes and audit, so the
// slash opens nothing.
func TestTrailingSlash(t *testing.T) {
	t.Parallel()
	ts := launchServer(t)
	patient := launchToken(t, ts, "launch/patient openid fhirUser patient/*.rs", nil, nil)["access_token"].(string)
	tokens := map[string]string{"system": ts.token, "none": "", "patient": patient}
	const txn = `{"resourceType":"Bundle","type":"transaction","entry":[{"request":{"method":"GET","url":"Patient/p1"}}]}`
	const obs = `{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"Patient/p1"}}`
	for _, tc := range []struct {
		name, token, method, path, contentType, body string
		want                                         int
	}{
		{"transaction", "system", "POST", "", fhirJSON, txn, 200},
		{"metadata", "none", "GET", "/metadata", "", "", 200},
		{"smart configuration", "none", "GET", "/.well-known/smart-configuration", "", "", 200},
		{"search", "system", "GET", "/Patient", "", "", 200},
		{"search with a query", "system", "GET", "/Observation?patient=p1", "", "", 200},
		{"search by POST", "system", "POST", "/Patient/_search", "application/x-www-form-urlencoded", "_id=p1", 200},
		{"read", "system", "GET", "/Patient/p1", "", "", 200},
		{"vread", "system", "GET", "/Patient/p1/_history/1", "", "", 200},
		{"history", "system", "GET", "/Patient/p1/_history", "", "", 200},
		{"compartment", "system", "GET", "/Patient/p1/Observation", "", "", 200},
		{"create", "system", "POST", "/Observation", fhirJSON, obs, 201},
		{"update", "system", "PUT", "/Patient/p2", fhirJSON, `{"resourceType":"Patient","id":"p2"}`, 200},
		{"operation", "system", "GET", "/Patient/p1/$everything", "", "", 200},
		{"type-level operation", "system", "POST", "/Observation/$validate", fhirJSON, obs, 200},
		{"not a type", "system", "GET", "/Nope", "", "", 404},
		{"search without a token", "none", "GET", "/Patient", "", "", 401},
		{"read without a token", "none", "GET", "/Patient/p1", "", "", 401},
		{"transaction without a token", "none", "POST", "", fhirJSON, txn, 401},
		{"another patient's record", "patient", "GET", "/Patient/p2", "", "", 404},
		{"another patient's search", "patient", "GET", "/Observation/o2", "", "", 404},
		{"the audit log to a patient", "patient", "GET", "/AuditEvent", "", "", 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			with := ts.doWith(tokens[tc.token], tc.method, slashed(tc.path), tc.contentType, tc.body)
			assert.Equal(t, tc.want, with.Status, "with the slash: %s", with.Body)
			without := ts.doWith(tokens[tc.token], tc.method, tc.path, tc.contentType, tc.body)
			assert.Equal(t, without.Status, with.Status, "as without the slash: %s", without.Body)
		})
	}
	// The audit record names the interaction of the path without the slash.
	require.Equal(t, 200, ts.do("GET", "/Patient/p1/", "", "").Status)
	events := auditEvents(t, ts)
	got := summarize(events[len(events)-1])
	assert.Equal(t, "read", got.Interaction)
	assert.Equal(t, []string{"Patient/p1"}, got.Entities)
}
