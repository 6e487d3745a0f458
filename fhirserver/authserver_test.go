package fhirserver_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirserver/fhirserver/smart"
)

// The authorization server as an attacker probes it (issue 16): guessing
// secrets and passwords, replaying codes, editing the consent form,
// introspecting other clients' tokens, launching into made-up contexts.

// authPost posts a form to an /auth/ endpoint with HTTP Basic credentials
// (none when id is empty) and extra headers, name then value.
func authPost(ts *testServer, path, id, secret string, form url.Values, headers ...string) (int, map[string]any, http.Header) {
	ts.t.Helper()
	req, err := http.NewRequest("POST", strings.TrimSuffix(ts.URL, "/fhir")+path, strings.NewReader(form.Encode()))
	require.NoError(ts.t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if id != "" {
		req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return ts.post(req)
}

var credentials = url.Values{"grant_type": {"client_credentials"}, "scope": {"system/*.rs"}}

// assertLockedOut checks a 429 as the token endpoint answers it.
func assertLockedOut(t *testing.T, status int, body map[string]any, h http.Header) {
	t.Helper()
	assert.Equal(t, http.StatusTooManyRequests, status, "%v", body)
	assert.Equal(t, "temporarily_unavailable", body["error"], "%v", body)
	retry, err := strconv.Atoi(h.Get("Retry-After"))
	assert.NoError(t, err, "Retry-After")
	assert.True(t, retry > 0 && retry <= 900, "Retry-After %d: within the 15 minute lockout", retry)
	assert.NotContains(t, body, "access_token")
}

// lockouts are the targets of the lockouts in the admin audit.
func lockouts(t *testing.T, ts *testServer) []string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, ts.owner)
	require.NoError(t, err)
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT target FROM admin_audit WHERE action = 'auth.lockout' AND actor = 'server:auth-limit' ORDER BY id`)
	require.NoError(t, err)
	targets, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	return targets
}

func TestFailedClientAuthenticationsAreLimited(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// fail makes failure i of a client's; the client with the right
		// secret is then locked out.
		fail     func(ts *testServer, id string, i int) (int, map[string]any)
		failures int
		lockout  string // the admin audit's target, {id} the client id
	}{
		{"wrong secrets at the token endpoint", func(ts *testServer, id string, _ int) (int, map[string]any) {
			status, body, _ := authPost(ts, "/auth/token", id, "wrong", credentials)
			return status, body
		}, 10, "client:{id}"},
		{"wrong secrets in the form", func(ts *testServer, id string, _ int) (int, map[string]any) {
			form := url.Values{"client_id": {id}, "client_secret": {"wrong"}}
			for k, v := range credentials {
				form[k] = v
			}
			status, body, _ := authPost(ts, "/auth/token", "", "", form)
			return status, body
		}, 10, "client:{id}"},
		{"wrong secrets at introspection", func(ts *testServer, id string, _ int) (int, map[string]any) {
			status, body, _ := authPost(ts, "/auth/introspect", id, "wrong", url.Values{"token": {"x"}})
			return status, body
		}, 10, "client:{id}"},
		{"wrong secrets at revocation", func(ts *testServer, id string, _ int) (int, map[string]any) {
			status, body, _ := authPost(ts, "/auth/revoke", id, "wrong", url.Values{"token": {"x"}})
			return status, body
		}, 10, "client:{id}"},
		{"made-up client ids from one address, a spoofed X-Forwarded-For changing nothing", func(ts *testServer, _ string, i int) (int, map[string]any) {
			status, body, _ := authPost(ts, "/auth/token", fmt.Sprintf("nobody-%d", i), "wrong", credentials,
				"X-Forwarded-For", fmt.Sprintf("203.0.113.%d", i))
			return status, body
		}, 50, "address:127.0.0.1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ts := newServer(t)
			id, secret := ts.client("system/*.rs")
			for i := range tc.failures {
				status, body := tc.fail(ts, id, i)
				require.Contains(t, []int{400, 401}, status, "failure %d: %v", i+1, body)
			}
			status, body, h := authPost(ts, "/auth/token", id, secret, credentials)
			assertLockedOut(t, status, body, h)
			status, body, h = authPost(ts, "/auth/introspect", id, secret, url.Values{"token": {"x"}})
			assertLockedOut(t, status, body, h)
			status, body, h = authPost(ts, "/auth/revoke", id, secret, url.Values{"token": {"x"}})
			assertLockedOut(t, status, body, h)
			assert.Equal(t, []string{strings.ReplaceAll(tc.lockout, "{id}", id)}, lockouts(t, ts), "the lockout is audited once")
			other, otherSecret := ts.client("system/*.rs")
			status, _, _ = authPost(ts, "/auth/token", other, otherSecret, credentials)
			if strings.HasPrefix(tc.lockout, "client:") {
				assert.Equal(t, 200, status, "another client is not locked")
			} else {
				assert.Equal(t, 429, status, "every client from the address is locked")
			}
		})
	}
	t.Run("an unknown client id locks as a known one does", func(t *testing.T) {
		t.Parallel()
		ts := newServer(t)
		for range 10 {
			status, body, _ := authPost(ts, "/auth/token", "nobody", "wrong", credentials)
			require.Equal(t, 401, status, "%v", body)
		}
		status, body, h := authPost(ts, "/auth/token", "nobody", "wrong", credentials)
		assertLockedOut(t, status, body, h)
	})
	t.Run("failures below the limit lock nothing", func(t *testing.T) {
		t.Parallel()
		ts := newServer(t)
		id, secret := ts.client("system/*.rs")
		for range 9 {
			status, _, _ := authPost(ts, "/auth/token", id, "wrong", credentials)
			require.Equal(t, 401, status)
		}
		status, body, _ := authPost(ts, "/auth/token", id, secret, credentials)
		assert.Equal(t, 200, status, "%v", body)
		assert.Empty(t, lockouts(t, ts))
	})
}

var errorRE = regexp.MustCompile(`<p class="error"[^>]*>([^<]*)</p>`)

// signIn posts the sign-in form of a fresh authorization request.
func signIn(ts *testServer, username, pass string) (page, string) {
	ts.t.Helper()
	b := newBrowser(ts)
	p := b.submit(b.get(authorizeURL(ts, "launch/patient patient/*.rs", nil)), url.Values{"username": {username}, "password": {pass}})
	msg := ""
	if m := errorRE.FindStringSubmatch(p.body); m != nil {
		msg = m[1]
	}
	return p, msg
}

func TestSignInLimits(t *testing.T) {
	t.Parallel()
	t.Run("a lockout reads the same whether or not the username exists", func(t *testing.T) {
		t.Parallel()
		ts := launchServer(t)
		answers := map[string]string{}
		for _, name := range []string{"doc", "nobody"} {
			for i := range 5 {
				p, msg := signIn(ts, name, "wrong password")
				require.Equal(t, 200, p.status, "%s failure %d", name, i+1)
				require.Contains(t, msg, "wrong", "%s failure %d", name, i+1)
			}
			p, msg := signIn(ts, name, password)
			assert.Equal(t, http.StatusTooManyRequests, p.status, name)
			assert.Contains(t, msg, "locked", name)
			answers[name] = msg
		}
		assert.Equal(t, answers["doc"], answers["nobody"], "one message for both")
		assert.Equal(t, []string{"user:doc", "user:nobody"}, lockouts(t, ts))
	})
	t.Run("one source address guessing many usernames", func(t *testing.T) {
		t.Parallel()
		ts := launchServer(t)
		for i := range 50 {
			p, msg := signIn(ts, fmt.Sprintf("user-%d", i), "wrong password")
			require.Equal(t, 200, p.status, "failure %d: %s", i+1, msg)
		}
		p, msg := signIn(ts, "doc", password)
		assert.Equal(t, http.StatusTooManyRequests, p.status, msg)
		assert.Contains(t, msg, "locked")
		assert.Equal(t, []string{"address:127.0.0.1"}, lockouts(t, ts))
	})
	t.Run("a success forgets the failures before it", func(t *testing.T) {
		t.Parallel()
		ts := launchServer(t)
		for range 2 {
			for range 4 {
				_, msg := signIn(ts, "doc", "wrong password")
				require.Contains(t, msg, "wrong")
			}
			p, _ := signIn(ts, "doc", password)
			require.Contains(t, p.body, `value="patient"`, "signed in")
		}
	})
}

// After a wrong PKCE verifier, the code is burnt: the right verifier is
// refused too, as invalid_grant (RFC 7636 4.6), never a server error.
func TestCodeBurntByAWrongVerifier(t *testing.T) {
	t.Parallel()
	ts := launchServer(t)
	for _, wrong := range []struct{ name, verifier string }{
		{"a wrong verifier", appVerifier + "x"},
		{"a verifier too short", "short"},
		{"no verifier", ""},
	} {
		t.Run(wrong.name, func(t *testing.T) {
			back := newBrowser(ts).launch(authorizeURL(ts, "launch/patient patient/*.rs", nil), nil)
			code := back.Query().Get("code")
			status, body, _ := exchange(ts, code, wrong.verifier)
			assert.Equal(t, 400, status, "%v", body)
			for range 2 {
				status, body, _ = exchange(ts, code, appVerifier)
				assert.Equal(t, 400, status, "%v", body)
				assert.Equal(t, "invalid_grant", body["error"], "%v", body)
				assert.NotContains(t, body, "access_token")
			}
		})
	}
}

// The consent page carries the app's request in hidden fields: an edited
// copy is refused, so that what is granted is what the app asked for.
func TestConsentFormCannotWidenTheRequest(t *testing.T) {
	t.Parallel()
	ts := launchServer(t)
	requested := "launch/patient patient/Observation.rs"
	for _, tc := range []struct {
		name string
		edit url.Values
	}{
		{"a scope added", url.Values{"scope": {requested + " patient/*.cruds"}, "grant": {"launch/patient", "patient/*.cruds"}}},
		{"a scope swapped", url.Values{"scope": {"launch/patient patient/Patient.rs"}, "grant": {"launch/patient", "patient/Patient.rs"}}},
		{"the request's binding dropped", url.Values{"_bind": {""}, "grant": {"launch/patient", "patient/Observation.rs"}}},
		{"another challenge", url.Values{"code_challenge": {challenge("another-verifier-of-at-least-forty-three-chars-000")}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newBrowser(ts)
			p := b.get(authorizeURL(ts, requested, nil))
			p = b.submit(p, url.Values{"username": {"doc"}, "password": {password}})
			p = b.submit(p, nil) // the patient picker: p1
			require.Contains(t, p.body, `value="consent"`, p.body)
			tc.edit.Set("decision", "approve")
			p = b.submit(p, tc.edit)
			u, err := url.Parse(p.location)
			require.NoError(t, err, p.body)
			assert.Equal(t, "invalid_request", u.Query().Get("error"), p.location)
			assert.Empty(t, u.Query().Get("code"))
		})
	}
	t.Run("unedited, the request is granted", func(t *testing.T) {
		tok := launchToken(t, ts, requested, nil, nil)
		assert.ElementsMatch(t, strings.Fields(requested), strings.Fields(tok["scope"].(string)))
	})
}

// A token is active to its own client and to resource servers, to no
// other client.
func TestIntrospectionIsForTheTokensClientOrAResourceServer(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	ctx := context.Background()
	owner, ownerSecret := ts.client("system/*.rs")
	status, body, _ := ts.requestToken(owner, ownerSecret, "system/*.rs")
	require.Equal(t, 200, status, "%v", body)
	token := body["access_token"].(string)
	_, err := ts.smart.RegisterClient(ctx, smart.Client{ID: "rs", Secret: "rs-secret", ResourceServer: true, Scopes: []string{"system/*.rs"}})
	require.NoError(t, err)
	_, err = ts.smart.RegisterClient(ctx, smart.Client{ID: "public-app", Public: true, RedirectURIs: []string{appRedirect}, Scopes: []string{"patient/*.rs"}})
	require.NoError(t, err)
	_, err = ts.smart.RegisterClient(ctx, smart.Client{ID: "public-rs", Public: true, ResourceServer: true, RedirectURIs: []string{appRedirect}})
	assert.Error(t, err, "a resource server authenticates")
	other, otherSecret := ts.client("system/*.rs")

	for _, tc := range []struct {
		name       string
		id, secret string
		form       url.Values
		status     int
		active     bool
	}{
		{"the token's own client", owner, ownerSecret, nil, 200, true},
		{"a resource server", "rs", "rs-secret", nil, 200, true},
		{"another client", other, otherSecret, nil, 200, false},
		{"another client, in the form", "", "", url.Values{"client_id": {other}, "client_secret": {otherSecret}}, 200, false},
		{"a public client naming itself", "", "", url.Values{"client_id": {"public-app"}}, 401, false},
		{"a wrong secret", owner, "wrong", nil, 401, false},
		{"no credentials", "", "", nil, 401, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			form := url.Values{"token": {token}}
			for k, v := range tc.form {
				form[k] = v
			}
			status, body, _ := authPost(ts, "/auth/introspect", tc.id, tc.secret, form)
			require.Equal(t, tc.status, status, "%v", body)
			if status != 200 {
				return
			}
			assert.Equal(t, tc.active, body["active"], "%v", body)
			if !tc.active {
				assert.Equal(t, map[string]any{"active": false}, body, "nothing of the token")
			}
		})
	}
}

// A launch context names a patient and encounter the server holds, the
// encounter the patient's.
func TestLaunchContextMustExist(t *testing.T) {
	t.Parallel()
	ts := launchServer(t)
	for _, tc := range []struct {
		name, body string
		status     int
	}{
		{"an unknown patient", `{"patient":"nobody"}`, 400},
		{"an unknown encounter", `{"patient":"p1","encounter":"nothing"}`, 400},
		{"an unknown encounter alone", `{"encounter":"nothing"}`, 400},
		{"another patient's encounter", `{"patient":"p2","encounter":"e1"}`, 400},
		{"the patient and their encounter", `{"patient":"p1","encounter":"e1"}`, 200},
		{"an encounter alone", `{"encounter":"e1"}`, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest("POST", strings.TrimSuffix(ts.URL, "/fhir")+"/auth/launch", strings.NewReader(tc.body))
			require.NoError(t, err)
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+ts.token)
			status, body, _ := ts.post(req)
			assert.Equal(t, tc.status, status, "%v", body)
			if tc.status == 200 {
				assert.NotEmpty(t, body["launch"])
			} else {
				assert.NotEmpty(t, body["error"])
			}
		})
	}
}
