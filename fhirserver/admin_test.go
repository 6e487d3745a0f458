package fhirserver_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirserver/fhirserver/smart"
	"github.com/fhirserver/fhirserver/storage"
)

// userTokenFor signs a user in through the authorization pages of client
// and approves every scope asked.
func userTokenFor(t *testing.T, ts *testServer, client, username, scope string) string {
	t.Helper()
	b := newBrowser(ts)
	p := b.get(authorizeURL(ts, scope, map[string]string{"client_id": client}))
	p = b.submit(p, url.Values{"username": {username}, "password": {password}})
	p = b.submit(p, url.Values{"decision": {"approve"}})
	u, err := url.Parse(p.location)
	require.NoError(t, err)
	status, tok, _ := tokenPost(ts, url.Values{"grant_type": {"authorization_code"}, "code": {u.Query().Get("code")},
		"redirect_uri": {appRedirect}, "client_id": {client}, "code_verifier": {appVerifier}})
	require.Equal(t, 200, status, "%v", tok)
	return tok["access_token"].(string)
}

// What a user may do is what the app's scopes allow and the user's role
// permits; role permissions are data, changed through the admin API (or
// the CLI) and in force for the next request.
func TestRolePermissionsAsData(t *testing.T) {
	t.Parallel()
	ts := launchServer(t)
	ctx := context.Background()
	_, err := ts.smart.RegisterClient(ctx, smart.Client{ID: "staff-app", Public: true, RedirectURIs: []string{appRedirect},
		Scopes: []string{"user/*.rs", "admin"}})
	require.NoError(t, err)
	require.NoError(t, ts.smart.AddUser(ctx, smart.User{Username: "nurse", Password: password, Role: "nurse", FHIRUser: "Practitioner/dr1"}))
	require.NoError(t, ts.smart.AddUser(ctx, smart.User{Username: "root", Password: password, Role: "admin"}))
	nurse := userTokenFor(t, ts, "staff-app", "nurse", "user/*.rs")
	admin := userTokenFor(t, ts, "staff-app", "root", "user/*.rs admin")
	doc := userTokenFor(t, ts, "staff-app", "doc", "user/*.rs admin")

	assert.Equal(t, 403, fhirGet(ts, nurse, "/Observation/o1").Status, "a role with no permissions")
	assert.Equal(t, 200, fhirGet(ts, doc, "/Observation/o1").Status, "clinicians start with every type")

	put := func(token, path, body string) int {
		req, err := http.NewRequest("PUT", strings.TrimSuffix(ts.URL, "/fhir")+path, strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+token)
		r, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		r.Body.Close()
		return r.StatusCode
	}
	assert.Equal(t, 403, put(doc, "/admin/roles/nurse/Observation", `{"permissions":"rs"}`), "a clinician is no admin")
	assert.Equal(t, 403, put(ts.token, "/admin/roles/nurse/Observation", `{"permissions":"rs"}`), "nor a backend service")
	assert.Equal(t, 400, put(admin, "/admin/roles/nurse/Observation", `{"permissions":"rx"}`))
	require.Equal(t, 204, put(admin, "/admin/roles/nurse/Observation", `{"permissions":"rs"}`))
	assert.Equal(t, 200, fhirGet(ts, nurse, "/Observation/o1").Status, "the next request")
	assert.Equal(t, 403, fhirGet(ts, nurse, "/Patient/p1").Status, "only what was granted")
	assert.Equal(t, 403, ts.doWith(nurse, "POST", "/Observation", fhirJSON, `{"resourceType":"Observation","status":"final","code":{"text":"x"}}`).Status)

	// A change made elsewhere (the CLI, another server) is heard by NOTIFY.
	require.NoError(t, ts.store.SetRolePermissions(storage.WithActor(ctx, "cli:test"), "nurse", "Observation", ""))
	assert.Eventually(t, func() bool { return fhirGet(ts, nurse, "/Observation/o1").Status == 403 }, 5*time.Second, 20*time.Millisecond)

	req, err := http.NewRequest("GET", strings.TrimSuffix(ts.URL, "/fhir")+"/admin/roles", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+admin)
	r, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer r.Body.Close()
	var all map[string]map[string]string
	require.NoError(t, json.NewDecoder(r.Body).Decode(&all))
	assert.Equal(t, "cruds", all["clinician"]["*"])
	assert.Equal(t, "rs", all["auditor"]["AuditEvent"])
	assert.NotContains(t, all, "nurse", "every permission taken away again")
}
