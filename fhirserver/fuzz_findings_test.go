package fhirserver_test

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirserver/fhirserver/smart"
)

// What fuzzing the parsers found (issue 16), end to end: each but the
// audit cursor was a 500 from PostgreSQL refusing what a parser let
// through, and is a 400 (or, for a scope, a grant of nothing). The
// parsers' fuzz targets keep the inputs in their testdata/fuzz.
func TestFuzzFindings(t *testing.T) {
	t.Parallel()
	ts := launchServer(t)
	// A NUL (\u0000) in any string or key of a resource: jsonb refuses it.
	for _, body := range []string{
		`{"resourceType":"Patient","name":[{"family":"a\u0000b"}]}`,
		`{"resourceType":"Patient","x\u0000":1}`,
	} {
		assertOutcome(t, ts.do("POST", "/Patient", fhirJSON, body), 400, "structure", "")
		assertOutcome(t, ts.do("PUT", "/Patient/p1", fhirJSON, strings.Replace(body, `{`, `{"id":"p1",`, 1)), 400, "structure", "")
		r := ts.do("POST", "", fhirJSON, `{"resourceType":"Bundle","type":"transaction","entry":[{"resource":`+body+`,"request":{"method":"POST","url":"Patient"}}]}`)
		assertOutcome(t, r, 400, "structure", "")
	}
	r := ts.do("PATCH", "/Patient/p1", "application/json-patch+json", `[{"op":"add","path":"/name/0/family","value":"a\u0000b"}]`)
	assertOutcome(t, r, 400, "structure", "")

	// _sort with more keys than MaxSortKeys: PostgreSQL refuses a
	// statement of thousands (each key is a subquery, and a bind value).
	r = ts.do("POST", "/Patient/_search", "application/x-www-form-urlencoded", "_sort="+strings.Repeat("name,", 3000)+"name")
	assertOutcome(t, r, 400, "too-costly", "_sort")
	assertOutcome(t, ts.do("GET", "/Patient?_sort="+strings.Repeat("name,", 10)+"name", "", ""), 400, "too-costly", "_sort")
	assert.Equal(t, 200, ts.do("GET", "/Patient?_sort="+strings.Repeat("name,", 9)+"name", "", "").Status)

	// A scope narrowed by a query holding a NUL grants nothing (every read
	// with the token was a 500).
	nul := "patient/Observation.rs?code=%00"
	back := newBrowser(ts).launch(authorizeURL(ts, "launch/patient "+nul, nil), url.Values{"grant": {"launch/patient", nul}})
	status, tok, _ := exchange(ts, back.Query().Get("code"), appVerifier)
	require.Equal(t, 200, status, "%v", tok)
	require.Contains(t, strings.Fields(tok["scope"].(string)), nul)
	access := tok["access_token"].(string)
	assert.Empty(t, entryKeys(t, fhirGet(ts, access, "/Observation")))
	assert.Equal(t, 403, fhirGet(ts, access, "/Observation/o1").Status)

	// The AuditEvent search: a NUL or invalid UTF-8 in a form's value,
	// which the check of the URL's query does not see (a 500); a cursor
	// that is no row's position (a time far outside PostgreSQL's, a stripe
	// beyond its column), which wrapped around and named another page.
	ctx := context.Background()
	_, err := ts.smart.RegisterClient(ctx, smart.Client{ID: "audit-app", Public: true, RedirectURIs: []string{appRedirect},
		Scopes: []string{"user/AuditEvent.rs"}})
	require.NoError(t, err)
	require.NoError(t, ts.smart.AddUser(ctx, smart.User{Username: "auditor", Password: password, Role: "auditor"}))
	b := newBrowser(ts)
	p := b.get(authorizeURL(ts, "user/AuditEvent.rs", map[string]string{"client_id": "audit-app"}))
	p = b.submit(p, url.Values{"username": {"auditor"}, "password": {password}})
	p = b.submit(p, url.Values{"decision": {"approve"}})
	u, err := url.Parse(p.location)
	require.NoError(t, err)
	status, tok, _ = tokenPost(ts, url.Values{"grant_type": {"authorization_code"}, "code": {u.Query().Get("code")},
		"redirect_uri": {appRedirect}, "client_id": {"audit-app"}, "code_verifier": {appVerifier}})
	require.Equal(t, 200, status, "%v", tok)
	auditor := tok["access_token"].(string)
	for _, cursor := range []string{"-9223372036854775808.0.0.0", "9223372036854775807.0.0.0", "1.70000.1.1"} {
		assertOutcome(t, fhirGet(ts, auditor, "/AuditEvent?_cursor="+cursor), 400, "invalid", "_cursor")
	}
	assert.Equal(t, 200, fhirGet(ts, auditor, "/AuditEvent?_cursor=1735689600000000.0.1.1").Status)
	for _, form := range []string{"entity=%00", "altid=%FF"} {
		assertOutcome(t, ts.doWith(auditor, "POST", "/AuditEvent/_search", "application/x-www-form-urlencoded", form), 400, "invalid", "")
	}
}
