package fhirserver_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirserver/fhirserver/smart"
)

var clientSeq atomic.Int64

// client registers a confidential client allowed the given scopes.
func (ts *testServer) client(scopes string) (id, secret string) {
	ts.t.Helper()
	id = fmt.Sprintf("client-%d", clientSeq.Add(1))
	secret, err := ts.smart.RegisterClient(context.Background(), smart.Client{ID: id, Scopes: strings.Fields(scopes)})
	require.NoError(ts.t, err)
	return id, secret
}

// tokenEndpoint is read from discovery, as a client would.
func (ts *testServer) tokenEndpoint() string {
	ts.t.Helper()
	r, err := http.Get(ts.URL + "/.well-known/smart-configuration")
	require.NoError(ts.t, err)
	defer r.Body.Close()
	var d map[string]any
	require.NoError(ts.t, json.NewDecoder(r.Body).Decode(&d))
	return d["token_endpoint"].(string)
}

// requestToken posts a client-credentials request with HTTP Basic auth.
func (ts *testServer) requestToken(id, secret, scope string) (int, map[string]any, http.Header) {
	ts.t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}}
	if scope != "" {
		form.Set("scope", scope)
	}
	req, err := http.NewRequest("POST", ts.tokenEndpoint(), strings.NewReader(form.Encode()))
	require.NoError(ts.t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	return ts.post(req)
}

func (ts *testServer) post(req *http.Request) (int, map[string]any, http.Header) {
	ts.t.Helper()
	r, err := http.DefaultClient.Do(req)
	require.NoError(ts.t, err)
	defer r.Body.Close()
	var body map[string]any
	require.NoError(ts.t, json.NewDecoder(r.Body).Decode(&body))
	return r.StatusCode, body, r.Header
}

// tokenFor registers a client with scopes and returns a token for them all.
func (ts *testServer) tokenFor(scopes string) string {
	ts.t.Helper()
	_, token := ts.clientToken(scopes)
	return token
}

func (ts *testServer) clientToken(scopes string) (clientID, token string) {
	ts.t.Helper()
	id, secret := ts.client(scopes)
	status, body, _ := ts.requestToken(id, secret, scopes)
	require.Equal(ts.t, 200, status, "token: %v", body)
	return id, body["access_token"].(string)
}

func TestDiscoveryAdvertisesTheTokenEndpoint(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	root := strings.TrimSuffix(ts.URL, "/fhir")
	for _, path := range []string{ts.URL + "/.well-known/smart-configuration", root + "/.well-known/smart-configuration"} {
		r, err := http.Get(path)
		require.NoError(t, err)
		var d map[string]any
		require.NoError(t, json.NewDecoder(r.Body).Decode(&d))
		r.Body.Close()
		assert.Equal(t, 200, r.StatusCode)
		assert.Equal(t, root+"/auth/token", d["token_endpoint"])
		assert.Subset(t, d["capabilities"], []any{"client-confidential-symmetric", "permission-v1", "permission-v2"})
		assert.Contains(t, d["grant_types_supported"], "client_credentials")
		assert.Equal(t, []any{"S256"}, d["code_challenge_methods_supported"])
		// SMART 2.2: issuer and jwks_uri come with sso-openid-connect;
		// every endpoint the launch uses is advertised.
		assert.Contains(t, d["capabilities"], "sso-openid-connect")
		assert.Equal(t, root, d["issuer"])
		for k, path := range map[string]string{"jwks_uri": "/auth/jwks", "authorization_endpoint": "/auth/authorize",
			"introspection_endpoint": "/auth/introspect", "revocation_endpoint": "/auth/revoke"} {
			assert.Equal(t, root+path, d[k], k)
		}
		assert.Equal(t, []any{"code"}, d["response_types_supported"])
		assert.Subset(t, d["capabilities"], []any{"launch-ehr", "launch-standalone", "client-public", "context-standalone-patient",
			"context-ehr-patient", "permission-patient", "permission-offline", "authorize-post"})
		assert.Contains(t, d["capabilities"], "client-confidential-asymmetric")
		assert.Contains(t, d["token_endpoint_auth_methods_supported"], "private_key_jwt")
		assert.ElementsMatch(t, []any{"RS384", "ES384"}, d["token_endpoint_auth_signing_alg_values_supported"])
	}
}

func TestClientCredentialsGrant(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	id, secret := ts.client("system/*.read system/Patient.cruds")

	t.Run("basic auth", func(t *testing.T) {
		status, body, h := ts.requestToken(id, secret, "system/Observation.rs system/Patient.write")
		require.Equal(t, 200, status, "%v", body)
		assert.NotEmpty(t, body["access_token"])
		assert.True(t, strings.EqualFold("bearer", body["token_type"].(string)))
		assert.InDelta(t, 900, body["expires_in"], 5)
		assert.ElementsMatch(t, []string{"system/Observation.rs", "system/Patient.write"}, strings.Fields(body["scope"].(string)))
		assert.Equal(t, "no-store", h.Get("Cache-Control"))
	})
	t.Run("post body", func(t *testing.T) {
		form := url.Values{"grant_type": {"client_credentials"}, "scope": {"system/*.read"}, "client_id": {id}, "client_secret": {secret}}
		req, _ := http.NewRequest("POST", ts.tokenEndpoint(), strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		status, body, _ := ts.post(req)
		require.Equal(t, 200, status, "%v", body)
		assert.NotEmpty(t, body["access_token"])
	})

	refusals := []struct {
		name, id, secret, scope string
		status                  int
		error                   string
	}{
		{"wrong secret", id, "not-the-secret", "system/*.read", 401, "invalid_client"},
		{"unknown client", "nobody", secret, "system/*.read", 401, "invalid_client"},
		{"scope beyond the client's", id, secret, "system/*.write", 400, "invalid_scope"},
		{"v2 scope beyond the client's", id, secret, "system/Observation.c", 400, "invalid_scope"},
		{"not a SMART scope", id, secret, "system/Unicorn.read", 400, "invalid_scope"},
		{"no scope", id, secret, "", 400, "invalid_scope"},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			status, body, _ := ts.requestToken(tt.id, tt.secret, tt.scope)
			assert.Equal(t, tt.status, status)
			assert.Equal(t, tt.error, body["error"])
			assert.Empty(t, body["access_token"])
		})
	}
	t.Run("other grant types", func(t *testing.T) {
		form := url.Values{"grant_type": {"password"}, "username": {"u"}, "password": {"p"}, "scope": {"system/*.read"}}
		req, _ := http.NewRequest("POST", ts.tokenEndpoint(), strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(id, secret)
		status, body, _ := ts.post(req)
		assert.Equal(t, 400, status)
		assert.Equal(t, "unsupported_grant_type", body["error"])
	})
}

// Every interaction is checked against the token's scopes: 403 with an
// OperationOutcome when they do not cover it, and nothing is written.
func TestScopesAreEnforced(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	admin := ts.token
	ts.do("PUT", "/Patient/p1", fhirJSON, `{"resourceType":"Patient","id":"p1"}`)
	ts.do("PUT", "/Observation/o1", fhirJSON, `{"resourceType":"Observation","id":"o1","status":"final","code":{"text":"x"}}`)
	patient := `{"resourceType":"Patient","active":true}`
	batch := `{"resourceType":"Bundle","type":"batch","entry":[{"request":{"method":"GET","url":"Patient/p1"}},{"request":{"method":"GET","url":"Observation/o1"}}]}`
	tx := `{"resourceType":"Bundle","type":"transaction","entry":[{"fullUrl":"urn:uuid:6b1f1c5e-0000-4000-8000-000000000001","resource":{"resourceType":"Patient"},"request":{"method":"POST","url":"Patient"}},{"resource":{"resourceType":"Observation","status":"final","code":{"text":"y"}},"request":{"method":"POST","url":"Observation"}}]}`

	tests := []struct {
		scopes, method, path, body string
		status                     int
	}{
		{"system/Patient.read", "GET", "/Patient/p1", "", 200},
		{"system/Patient.read", "GET", "/Patient/p1/_history/1", "", 200},
		{"system/Patient.read", "GET", "/Patient?_id=p1", "", 200},
		{"system/Patient.read", "GET", "/Observation/o1", "", 403},
		{"system/Patient.read", "POST", "/Patient", patient, 403},
		{"system/Patient.read", "GET", "/_history", "", 403},
		{"system/*.read", "GET", "/_history", "", 200},
		{"system/Patient.write", "POST", "/Patient", patient, 201},
		{"system/Patient.write", "GET", "/Patient/p1", "", 403},
		{"system/Patient.r", "GET", "/Patient/p1", "", 200},
		{"system/Patient.r", "GET", "/Patient?_id=p1", "", 403},
		{"system/Patient.s", "GET", "/Patient?_id=p1", "", 200},
		{"system/Patient.s", "GET", "/Patient/p1", "", 403},
		{"system/Patient.u", "PUT", "/Patient/p1", `{"resourceType":"Patient","id":"p1","active":false}`, 200},
		{"system/Patient.u", "PUT", "/Patient/new1", `{"resourceType":"Patient","id":"new1"}`, 403},
		{"system/Patient.cu", "PUT", "/Patient/new2", `{"resourceType":"Patient","id":"new2"}`, 201},
		{"system/Patient.c", "PATCH", "/Patient/p1", `[{"op":"add","path":"/active","value":true}]`, 403},
		{"system/Patient.c", "DELETE", "/Patient/p1", "", 403},
		{"system/Observation.d", "DELETE", "/Observation/o1", "", 204},
		{"system/Patient.c", "POST", "", tx, 403},
		{"system/Patient.c system/Observation.c", "POST", "", tx, 200},
		{"system/Patient.rs", "POST", "", batch, 200}, // the batch runs; its Observation entry fails alone
		{"patient/*.read", "GET", "/Patient/p1", "", 403},
		{"user/*.cruds", "GET", "/Patient/p1", "", 403},
	}
	for _, tt := range tests {
		ts.token = ts.tokenFor(tt.scopes)
		ct := fhirJSON
		if tt.method == "PATCH" {
			ct = "application/json-patch+json"
		}
		r := ts.do(tt.method, tt.path, ct, tt.body)
		if !assert.Equal(t, tt.status, r.Status, "%s %s %s with %q: %s", tt.method, tt.path, tt.body, tt.scopes, r.Body) {
			continue
		}
		if tt.status == 403 {
			assertOutcome(t, r, 403, "forbidden", "")
		}
	}

	ts.token = ts.tokenFor("system/Patient.rs")
	b := ts.do("POST", "", fhirJSON, batch).json(t)
	entries := b["entry"].([]any)
	assert.Equal(t, "200 OK", entries[0].(map[string]any)["response"].(map[string]any)["status"])
	assert.Equal(t, "403 Forbidden", entries[1].(map[string]any)["response"].(map[string]any)["status"])

	ts.token = admin
	h := ts.do("GET", "/Observation/_history", "", "").json(t)
	assert.Len(t, h["entry"], 3, "o1, its deletion and the one transaction allowed; the refused one wrote nothing")
}

func TestBadTokensAre401(t *testing.T) {
	t.Parallel()
	ts := newServerLifespan(t, 3*time.Second)
	good := ts.tokenFor("system/*.read")
	expiring := ts.tokenFor("system/*.read")
	id, secret := ts.client("system/*.read")
	_, body, _ := ts.requestToken(id, secret, "system/*.read")
	revoked := body["access_token"].(string)

	form := url.Values{"token": {revoked}}
	req, _ := http.NewRequest("POST", strings.TrimSuffix(ts.URL, "/fhir")+"/auth/revoke", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(id, secret)
	r, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	r.Body.Close()
	require.Equal(t, 200, r.StatusCode, "revocation")

	ts.token = good
	require.Equal(t, 404, ts.do("GET", "/Patient/none", "", "").Status, "a good token passes")
	ts.token = revoked
	require.Equal(t, 401, ts.do("GET", "/Patient/none", "", "").Status, "revoked before it expires")
	time.Sleep(3200 * time.Millisecond)

	tests := []struct {
		name, header, challenge string
	}{
		{"missing", "", `Bearer realm="` + ts.URL + `"`},
		{"not bearer", "Basic dXNlcjpwYXNz", `error="invalid_request"`},
		{"empty bearer", "Bearer ", `error="invalid_request"`},
		{"unknown", "Bearer ory_at_bm90LWEtdG9rZW4.c2lnbmF0dXJl", `error="invalid_token"`},
		{"garbage", "Bearer %%%", `error="invalid_token"`},
		{"expired", "Bearer " + expiring, `error="invalid_token", error_description="the access token has expired"`},
		{"revoked", "Bearer " + revoked, `error="invalid_token"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", ts.URL+"/Patient/none", nil)
			if tt.header != "" {
				req.Header.Set("Authorization", tt.header)
			}
			r, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			defer r.Body.Close()
			assert.Equal(t, 401, r.StatusCode)
			assert.Contains(t, r.Header.Get("WWW-Authenticate"), tt.challenge)
			assert.Equal(t, "application/fhir+json", strings.Split(r.Header.Get("Content-Type"), ";")[0])
		})
	}
}
