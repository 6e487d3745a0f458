package fhirserver_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v3"
	"github.com/go-jose/go-jose/v3/jwt"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirserver/fhirserver/smart"
)

const (
	appRedirect = "http://127.0.0.1:9/callback"
	appLaunch   = "http://127.0.0.1:9/launch?tenant=t1"
	appVerifier = "a-verifier-of-at-least-forty-three-characters-0123456789"
	password    = "correct horse battery"
)

// launchServer is a server with a small record (patients p1 and p2, an
// observation each, p1's encounter and practitioner), a public SMART app
// and a clinician who may sign in.
func launchServer(t *testing.T) *testServer {
	ts := newServer(t)
	ts.put("Practitioner", "dr1", `{"resourceType":"Practitioner","name":[{"family":"Welby"}]}`)
	ts.put("Practitioner", "dr2", `{"resourceType":"Practitioner","name":[{"family":"Kildare"}]}`)
	ts.put("Patient", "p1", `{"resourceType":"Patient","name":[{"family":"Chalmers","given":["Peter"]}],"birthDate":"1974-12-25"}`)
	ts.put("Patient", "p2", `{"resourceType":"Patient","name":[{"family":"Other","given":["Olive"]}]}`)
	// dr1 cares for p1 (an encounter in progress), not for p2.
	ts.put("Encounter", "e1", `{"resourceType":"Encounter","status":"in-progress","class":{"code":"AMB"},"subject":{"reference":"Patient/p1"},
		"participant":[{"individual":{"reference":"Practitioner/dr1"}}],"period":{"start":"2024-01-02"}}`)
	ts.put("Observation", "o1", `{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"Patient/p1"},"performer":[{"reference":"Practitioner/dr1"}]}`)
	ts.put("Observation", "o2", `{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"Patient/p2"},"performer":[{"reference":"Practitioner/dr2"}]}`)
	ctx := context.Background()
	_, err := ts.smart.RegisterClient(ctx, smart.Client{ID: "app", Public: true, RedirectURIs: []string{appRedirect}, LaunchURL: appLaunch,
		Scopes: strings.Fields("launch launch/patient launch/encounter openid fhirUser offline_access patient/*.cruds patient/*.read user/*.rs")})
	require.NoError(t, err)
	require.NoError(t, ts.smart.AddUser(ctx, smart.User{Username: "doc", Password: password, Role: "clinician", FHIRUser: "Practitioner/dr1"}))
	return ts
}

// browser follows the authorization pages as a user agent would, keeping
// the sign-in cookie (which is Secure: a test over http keeps it by hand).
type browser struct {
	t       testing.TB
	root    string
	cookies map[string]string
	client  *http.Client
}

func newBrowser(ts *testServer) *browser {
	return &browser{t: ts.t, root: strings.TrimSuffix(ts.URL, "/fhir"), cookies: map[string]string{},
		client: &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

type page struct {
	status   int
	location string
	body     string
}

func (b *browser) send(req *http.Request) page {
	b.t.Helper()
	for k, v := range b.cookies {
		req.AddCookie(&http.Cookie{Name: k, Value: v})
	}
	r, err := b.client.Do(req)
	require.NoError(b.t, err)
	defer r.Body.Close()
	body, _ := io.ReadAll(r.Body)
	for _, c := range r.Cookies() {
		b.cookies[c.Name] = c.Value
		assert.True(b.t, c.HttpOnly && c.Secure && c.SameSite == http.SameSiteLaxMode, "cookie flags")
	}
	return page{status: r.StatusCode, location: r.Header.Get("Location"), body: string(body)}
}

func (b *browser) get(u string) page {
	req, err := http.NewRequest("GET", u, nil)
	require.NoError(b.t, err)
	return b.send(req)
}

var actionRE = regexp.MustCompile(`<form method="post" action="([^"]+)"`)

var inputRE = regexp.MustCompile(`<input type="(hidden|radio|checkbox)" name="([^"]+)" value="([^"]*)"`)

// submit posts the page's form with its hidden fields, the first radio of
// each group, every checked box, and the given values (which replace).
func (b *browser) submit(p page, values url.Values) page {
	b.t.Helper()
	form := url.Values{}
	radios := map[string]bool{}
	for _, m := range inputRE.FindAllStringSubmatch(p.body, -1) {
		kind, name, value := m[1], html.UnescapeString(m[2]), html.UnescapeString(m[3])
		switch {
		case kind == "radio" && !radios[name]:
			radios[name] = true
			form.Set(name, value)
		case kind == "checkbox" && strings.Contains(p.body, `value="`+m[3]+`" checked`):
			form.Add(name, value)
		case kind == "hidden":
			form.Add(name, value)
		}
	}
	for k, v := range values {
		form[k] = v
	}
	action := "/auth/authorize"
	if m := actionRE.FindStringSubmatch(p.body); m != nil {
		action = strings.TrimPrefix(html.UnescapeString(m[1]), b.root)
	}
	req, err := http.NewRequest("POST", b.root+action, strings.NewReader(form.Encode()))
	require.NoError(b.t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.send(req)
}

func challenge(verifier string) string {
	h := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(h[:])
}

// authorizeURL is the app's request; set overrides parameters ("" removes).
func authorizeURL(ts *testServer, scope string, set map[string]string) string {
	q := url.Values{"response_type": {"code"}, "client_id": {"app"}, "redirect_uri": {appRedirect}, "scope": {scope},
		"state": {"state-0123456789"}, "aud": {ts.URL}, "code_challenge": {challenge(appVerifier)}, "code_challenge_method": {"S256"}}
	for k, v := range set {
		if v == "" {
			q.Del(k)
		} else {
			q.Set(k, v)
		}
	}
	return strings.TrimSuffix(ts.URL, "/fhir") + "/auth/authorize?" + q.Encode()
}

// launch signs in, picks p1 when asked, approves (with overrides of the
// consent form) and returns the redirect to the app.
func (b *browser) launch(start string, consent url.Values) *url.URL {
	b.t.Helper()
	p := b.get(start)
	require.Equal(b.t, 200, p.status, p.body)
	if strings.Contains(p.body, `name="password"`) {
		p = b.submit(p, url.Values{"username": {"doc"}, "password": {password}})
	}
	for strings.Contains(p.body, `name="_step" value="patient"`) || strings.Contains(p.body, `name="_step" value="encounter"`) {
		p = b.submit(p, nil)
	}
	require.Contains(b.t, p.body, `value="consent"`, p.body)
	if consent == nil {
		consent = url.Values{}
	}
	if consent.Get("decision") == "" {
		consent.Set("decision", "approve")
	}
	p = b.submit(p, consent)
	require.Contains(b.t, []int{302, 303}, p.status, p.body)
	u, err := url.Parse(p.location)
	require.NoError(b.t, err)
	return u
}

// launchToken launches the app for scope (set overriding the authorize
// parameters, consent the consent form) and exchanges the code.
func launchToken(t *testing.T, ts *testServer, scope string, set map[string]string, consent url.Values) map[string]any {
	t.Helper()
	back := newBrowser(ts).launch(authorizeURL(ts, scope, set), consent)
	status, tok, _ := exchange(ts, back.Query().Get("code"), appVerifier)
	require.Equal(t, 200, status, "%v", tok)
	return tok
}

// exchange posts the code to the token endpoint as the public app.
func exchange(ts *testServer, code, verifier string) (int, map[string]any, http.Header) {
	ts.t.Helper()
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {appRedirect}, "client_id": {"app"}, "code_verifier": {verifier}}
	return tokenPost(ts, form)
}

func tokenPost(ts *testServer, form url.Values) (int, map[string]any, http.Header) {
	ts.t.Helper()
	req, err := http.NewRequest("POST", ts.tokenEndpoint(), strings.NewReader(form.Encode()))
	require.NoError(ts.t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return ts.post(req)
}

func fhirGet(ts *testServer, token, path string) response {
	ts.t.Helper()
	saved := ts.token
	defer func() { ts.token = saved }()
	ts.token = token
	return ts.do("GET", path, "", "")
}

func TestStandaloneLaunch(t *testing.T) {
	t.Parallel()
	ts := launchServer(t)
	b := newBrowser(ts)
	back := b.launch(authorizeURL(ts, "launch/patient openid fhirUser offline_access patient/*.rs", nil), nil)
	assert.Equal(t, "state-0123456789", back.Query().Get("state"))
	code := back.Query().Get("code")
	require.NotEmpty(t, code, back.String())

	status, tok, h := exchange(ts, code, appVerifier)
	require.Equal(t, 200, status, "%v", tok)
	assert.Equal(t, "no-store", h.Get("Cache-Control"))
	assert.Equal(t, "no-cache", h.Get("Pragma"))
	assert.Equal(t, "p1", tok["patient"], "the first patient on the picker")
	assert.Equal(t, true, tok["need_patient_banner"])
	assert.NotEmpty(t, tok["smart_style_url"])
	assert.NotEmpty(t, tok["refresh_token"])
	assert.InDelta(t, 900, tok["expires_in"], 2, "15 minutes")
	assert.ElementsMatch(t, strings.Fields("launch/patient openid fhirUser offline_access patient/*.rs"), strings.Fields(tok["scope"].(string)))
	access := tok["access_token"].(string)

	t.Run("id_token", func(t *testing.T) {
		claims := verifyIDToken(t, ts, tok["id_token"].(string))
		assert.Equal(t, strings.TrimSuffix(ts.URL, "/fhir"), claims["iss"])
		assert.Contains(t, claims["aud"], "app")
		assert.Equal(t, ts.URL+"/Practitioner/dr1", claims["fhirUser"])
		assert.Equal(t, "doc", claims["sub"])
	})
	t.Run("the patient's reach", func(t *testing.T) {
		assert.Equal(t, 200, fhirGet(ts, access, "/Patient/p1").Status)
		assert.Equal(t, 200, fhirGet(ts, access, "/Observation/o1").Status)
		assert.Equal(t, 200, fhirGet(ts, access, "/Practitioner/dr1").Status, "what the patient's records point at")
		for _, path := range []string{"/Patient/p2", "/Observation/o2", "/Practitioner/dr2"} {
			r := fhirGet(ts, access, path)
			assert.Contains(t, []int{403, 404}, r.Status, "%s: refused, or not even seen (another patient's: row-level security)", path)
			assert.Equal(t, "OperationOutcome", r.json(t)["resourceType"])
		}
		ids := func(path string) []string { return entryKeys(t, fhirGet(ts, access, path)) }
		assert.Equal(t, []string{"Observation/o1"}, ids("/Observation"))
		assert.Empty(t, ids("/Observation?patient=p2"))
		assert.Equal(t, []string{"Patient/p1"}, ids("/Patient"))
		assert.ElementsMatch(t, []string{"Observation/o1", "Practitioner/dr1"}, ids("/Observation?_include=Observation:performer"))
		assert.ElementsMatch(t, []string{"Practitioner/dr1"}, ids("/Practitioner?_revinclude=Observation:performer")[:1])
		assert.NotContains(t, ids("/Practitioner?_revinclude=Observation:performer"), "Observation/o2")
		assert.NotContains(t, ids("/Patient/$everything"), "Observation/o2")
		assert.Contains(t, ids("/Patient/$everything"), "Observation/o1")
		assert.Contains(t, []int{403, 404}, fhirGet(ts, access, "/Patient/p2/$everything").Status)
		assert.Equal(t, 403, ts.doWith(access, "POST", "/Observation", fhirJSON, `{"resourceType":"Observation","status":"final","code":{"text":"y"},"subject":{"reference":"Patient/p1"}}`).Status, "no write scope")
	})
	t.Run("refresh rotates, narrows and never widens", func(t *testing.T) {
		first := tok["refresh_token"].(string)
		// A public client need not name itself on refresh (RFC 6749 6); the
		// SMART JavaScript client does not.
		status, r1, _ := tokenPost(ts, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {first}})
		require.Equal(t, 200, status, "%v", r1)
		second := r1["refresh_token"].(string)
		assert.NotEqual(t, first, second)
		assert.Equal(t, "p1", r1["patient"], "the launch context survives a refresh")
		status, wide, _ := tokenPost(ts, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {second}, "client_id": {"app"}, "scope": {"user/*.rs"}})
		assert.Equal(t, 400, status, "%v", wide)
		assert.Equal(t, "invalid_scope", wide["error"])
		status, narrow, _ := tokenPost(ts, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {second}, "client_id": {"app"}, "scope": {"patient/Observation.rs offline_access"}})
		require.Equal(t, 200, status, "%v", narrow)
		assert.ElementsMatch(t, []string{"patient/Observation.rs", "offline_access"}, strings.Fields(narrow["scope"].(string)))
		assert.Equal(t, 403, fhirGet(ts, narrow["access_token"].(string), "/Patient/p1").Status, "narrowed away")
		assert.Equal(t, 200, fhirGet(ts, narrow["access_token"].(string), "/Observation/o1").Status)
		// Reusing a rotated refresh token revokes the whole family.
		status, reused, _ := tokenPost(ts, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {first}, "client_id": {"app"}})
		assert.Contains(t, []int{400, 401}, status, "%v", reused)
		status, _, _ = tokenPost(ts, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {narrow["refresh_token"].(string)}, "client_id": {"app"}})
		assert.Contains(t, []int{400, 401}, status, "the family is revoked")
		assert.Equal(t, 401, fhirGet(ts, narrow["access_token"].(string), "/Observation/o1").Status)
		conn, err := pgx.Connect(context.Background(), ts.owner)
		require.NoError(t, err)
		defer conn.Close(context.Background())
		var rotations int
		require.NoError(t, conn.QueryRow(context.Background(), `SELECT count(*) FROM oauth2_rotation_log WHERE client_id = 'app'`).Scan(&rotations))
		assert.Equal(t, 2, rotations, "each rotation is logged")
	})
	t.Run("a replayed code is refused and what it gave is revoked", func(t *testing.T) {
		b := newBrowser(ts)
		back := b.launch(authorizeURL(ts, "launch/patient patient/*.rs", nil), nil)
		code := back.Query().Get("code")
		status, tok, _ := exchange(ts, code, appVerifier)
		require.Equal(t, 200, status, "%v", tok)
		status, again, _ := exchange(ts, code, appVerifier)
		assert.Equal(t, 400, status, "%v", again)
		assert.Equal(t, "invalid_grant", again["error"])
		assert.Equal(t, 401, fhirGet(ts, tok["access_token"].(string), "/Patient/p1").Status)
	})
}

// entryKeys are the "Type/id" of a search Bundle's entries.
func entryKeys(t *testing.T, r response) []string {
	t.Helper()
	require.Equal(t, 200, r.Status, "%s", r.Body)
	var b struct {
		Entry []struct{ Resource map[string]any }
	}
	require.NoError(t, json.Unmarshal(r.Body, &b))
	var out []string
	for _, e := range b.Entry {
		out = append(out, e.Resource["resourceType"].(string)+"/"+e.Resource["id"].(string))
	}
	return out
}

func (ts *testServer) doWith(token, method, path, contentType, body string) response {
	ts.t.Helper()
	saved := ts.token
	defer func() { ts.token = saved }()
	ts.token = token
	return ts.do(method, path, contentType, body)
}

// verifyIDToken checks an id_token's signature against the JWKS the
// discovery document names, by the kid in its header.
func verifyIDToken(t *testing.T, ts *testServer, raw string) map[string]any {
	t.Helper()
	tok, err := jwt.ParseSigned(raw)
	require.NoError(t, err)
	require.Len(t, tok.Headers, 1)
	assert.Equal(t, "RS256", tok.Headers[0].Algorithm)
	require.NotEmpty(t, tok.Headers[0].KeyID)
	r, err := http.Get(strings.TrimSuffix(ts.URL, "/fhir") + "/auth/jwks")
	require.NoError(t, err)
	defer r.Body.Close()
	var set jose.JSONWebKeySet
	require.NoError(t, json.NewDecoder(r.Body).Decode(&set))
	keys := set.Key(tok.Headers[0].KeyID)
	require.Len(t, keys, 1)
	var claims map[string]any
	require.NoError(t, tok.Claims(keys[0].Key, &claims))
	return claims
}

func TestAuthorizeRefusals(t *testing.T) {
	t.Parallel()
	ts := launchServer(t)
	scope := "launch/patient patient/*.rs"
	redirectedError := func(t *testing.T, set map[string]string, want string) {
		t.Helper()
		p := newBrowser(ts).get(authorizeURL(ts, scope, set))
		require.Contains(t, []int{302, 303}, p.status, "%s", p.body)
		u, err := url.Parse(p.location)
		require.NoError(t, err)
		assert.True(t, strings.HasPrefix(p.location, appRedirect), p.location)
		assert.Equal(t, want, u.Query().Get("error"), p.location)
		assert.Equal(t, "state-0123456789", u.Query().Get("state"))
	}
	t.Run("PKCE missing", func(t *testing.T) {
		redirectedError(t, map[string]string{"code_challenge": "", "code_challenge_method": ""}, "invalid_request")
	})
	t.Run("PKCE plain", func(t *testing.T) {
		redirectedError(t, map[string]string{"code_challenge": appVerifier, "code_challenge_method": "plain"}, "invalid_request")
	})
	t.Run("aud of another server", func(t *testing.T) {
		redirectedError(t, map[string]string{"aud": "https://elsewhere.example/fhir"}, "invalid_request")
	})
	t.Run("aud missing", func(t *testing.T) { redirectedError(t, map[string]string{"aud": ""}, "invalid_request") })
	t.Run("scope the client may not have", func(t *testing.T) {
		redirectedError(t, map[string]string{"scope": "system/*.read"}, "invalid_scope")
	})
	t.Run("launch scope without a launch", func(t *testing.T) {
		redirectedError(t, map[string]string{"scope": "launch patient/*.rs"}, "invalid_request")
	})
	t.Run("unknown launch", func(t *testing.T) {
		redirectedError(t, map[string]string{"scope": "launch patient/*.rs", "launch": "made-up"}, "invalid_request")
	})
	t.Run("redirect_uri not registered: no redirect", func(t *testing.T) {
		for _, uri := range []string{"http://127.0.0.1:9/elsewhere", appRedirect + "/", "http://127.0.0.1:9/callback?x=1"} {
			p := newBrowser(ts).get(authorizeURL(ts, scope, map[string]string{"redirect_uri": uri}))
			assert.GreaterOrEqual(t, p.status, 400, "%q: %s", uri, p.location)
			assert.Empty(t, p.location, uri)
		}
	})
	t.Run("redirect_uri missing: refused at the registered one", func(t *testing.T) {
		redirectedError(t, map[string]string{"redirect_uri": ""}, "invalid_request")
	})
	t.Run("unknown client: no redirect", func(t *testing.T) {
		p := newBrowser(ts).get(authorizeURL(ts, scope, map[string]string{"client_id": "nobody"}))
		assert.GreaterOrEqual(t, p.status, 400)
		assert.Empty(t, p.location)
	})
	t.Run("the user denies", func(t *testing.T) {
		back := newBrowser(ts).launch(authorizeURL(ts, scope, nil), url.Values{"decision": {"deny"}})
		assert.Equal(t, "access_denied", back.Query().Get("error"))
		assert.Empty(t, back.Query().Get("code"))
	})
	t.Run("wrong verifier, unknown code", func(t *testing.T) {
		back := newBrowser(ts).launch(authorizeURL(ts, scope, nil), nil)
		status, body, _ := exchange(ts, back.Query().Get("code"), appVerifier+"x")
		assert.Equal(t, 400, status, "%v", body)
		assert.Equal(t, "invalid_grant", body["error"])
		status, body, _ = exchange(ts, "made-up-code", appVerifier)
		assert.Equal(t, 400, status, "%v", body)
	})
	t.Run("a form from another site", func(t *testing.T) {
		b := newBrowser(ts)
		p := b.get(authorizeURL(ts, scope, nil))
		p = b.submit(p, url.Values{"username": {"doc"}, "password": {password}, "_csrf": {"forged"}})
		assert.Equal(t, 200, p.status)
		assert.Contains(t, p.body, `name="password"`, "not signed in")
	})
}

func TestConsentGrantsASubset(t *testing.T) {
	t.Parallel()
	ts := launchServer(t)
	back := newBrowser(ts).launch(authorizeURL(ts, "launch/patient patient/Patient.rs patient/Observation.rs", nil),
		url.Values{"grant": {"launch/patient", "patient/Observation.rs"}})
	status, tok, _ := exchange(ts, back.Query().Get("code"), appVerifier)
	require.Equal(t, 200, status, "%v", tok)
	assert.ElementsMatch(t, []string{"launch/patient", "patient/Observation.rs"}, strings.Fields(tok["scope"].(string)))
	access := tok["access_token"].(string)
	assert.Equal(t, 200, fhirGet(ts, access, "/Observation/o1").Status)
	assert.Equal(t, 403, fhirGet(ts, access, "/Patient/p1").Status, "a type the user withheld")
	assert.Equal(t, 403, fhirGet(ts, access, "/Patient?_id=p1").Status)
	assert.Empty(t, newBrowser(ts).launch(authorizeURL(ts, "launch/patient patient/Patient.rs", nil),
		url.Values{"grant": {"system/*.read"}}).Query().Get("error"), "a scope not asked for is ignored, not granted")
}

func TestEHRLaunch(t *testing.T) {
	t.Parallel()
	ts := launchServer(t)
	root := strings.TrimSuffix(ts.URL, "/fhir")
	createLaunch := func(token, body string) (int, map[string]any) {
		req, err := http.NewRequest("POST", root+"/auth/launch", strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		status, got, _ := ts.post(req)
		return status, got
	}
	status, _ := createLaunch("", `{"patient":"p1"}`)
	assert.Equal(t, 401, status)
	status, _ = createLaunch(ts.tokenFor("system/Observation.rs"), `{"patient":"p1"}`)
	assert.Equal(t, 403, status)
	status, _ = createLaunch(ts.token, `{"patient":"Patient/p1"}`)
	assert.Equal(t, 400, status, "ids, not references")
	status, got := createLaunch(ts.token, `{"patient":"p1","encounter":"e1","need_patient_banner":false,"fhirContext":[{"reference":"Encounter/e1"}]}`)
	require.Equal(t, 200, status, "%v", got)
	launch := got["launch"].(string)

	tok := launchToken(t, ts, "launch openid fhirUser patient/*.rs", map[string]string{"launch": launch}, nil)
	assert.Equal(t, "p1", tok["patient"])
	assert.Equal(t, "e1", tok["encounter"])
	assert.Equal(t, false, tok["need_patient_banner"])
	assert.Equal(t, []any{map[string]any{"reference": "Encounter/e1"}}, tok["fhirContext"])
	assert.Equal(t, 200, fhirGet(ts, tok["access_token"].(string), "/Encounter/e1").Status)

	t.Run("a launch is single-use", func(t *testing.T) {
		p := newBrowser(ts).get(authorizeURL(ts, "launch patient/*.rs", map[string]string{"launch": launch}))
		u, _ := url.Parse(p.location)
		assert.Equal(t, "invalid_request", u.Query().Get("error"), p.location)
	})
	t.Run("introspection", func(t *testing.T) {
		// the app's token is another client's: only a resource server sees it
		id, secret := "resource-server", "rs-secret"
		_, err := ts.smart.RegisterClient(context.Background(), smart.Client{ID: id, Secret: secret, ResourceServer: true, Scopes: []string{"system/*.read"}})
		require.NoError(t, err)
		introspect := func(token string) map[string]any {
			req, err := http.NewRequest("POST", root+"/auth/introspect", strings.NewReader(url.Values{"token": {token}}.Encode()))
			require.NoError(t, err)
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth(id, secret)
			status, body, _ := ts.post(req)
			require.Equal(t, 200, status, "%v", body)
			return body
		}
		got := introspect(tok["access_token"].(string))
		assert.Equal(t, true, got["active"])
		assert.Equal(t, "p1", got["patient"])
		assert.Equal(t, "e1", got["encounter"])
		assert.Equal(t, ts.URL+"/Practitioner/dr1", got["fhirUser"])
		assert.Equal(t, root, got["iss"])
		assert.Equal(t, "app", got["client_id"])
		assert.Equal(t, "doc", got["sub"])
		assert.NotEmpty(t, got["exp"])
		assert.Equal(t, map[string]any{"active": false}, introspect("made-up"))
	})
}

func TestStandaloneEncounterPicker(t *testing.T) {
	t.Parallel()
	ts := launchServer(t)
	b := newBrowser(ts)
	p := b.get(authorizeURL(ts, "launch/patient launch/encounter patient/*.rs", nil))
	p = b.submit(p, url.Values{"username": {"doc"}, "password": {password}})
	require.Contains(t, p.body, `value="patient"`)
	p = b.submit(p, url.Values{"_search": {"1"}, "q": {"olive"}})
	assert.NotContains(t, p.body, "Olive Other", "not a patient of the user's")
	p = b.submit(p, url.Values{"_search": {"1"}, "q": {"chalmers"}})
	assert.Contains(t, p.body, "Peter Chalmers", "the name filter")
	p = b.submit(p, url.Values{"patient": {"p1"}})
	require.Contains(t, p.body, `name="_step" value="encounter"`, p.body)
	assert.Contains(t, p.body, `value="e1"`)
	p = b.submit(p, url.Values{"encounter": {"e1"}})
	require.Contains(t, p.body, `value="consent"`, p.body)
	p = b.submit(p, url.Values{"decision": {"approve"}})
	u, err := url.Parse(p.location)
	require.NoError(t, err)
	status, tok, _ := exchange(ts, u.Query().Get("code"), appVerifier)
	require.Equal(t, 200, status, "%v", tok)
	assert.Equal(t, "p1", tok["patient"])
	assert.Equal(t, "e1", tok["encounter"])
}

func TestSignInLockout(t *testing.T) {
	t.Parallel()
	ts := launchServer(t)
	b := newBrowser(ts)
	p := b.get(authorizeURL(ts, "launch/patient patient/*.rs", nil))
	for range 5 {
		p = b.submit(p, url.Values{"username": {"doc"}, "password": {"wrong password"}})
		assert.Contains(t, p.body, "wrong")
	}
	p = b.submit(p, url.Values{"username": {"doc"}, "password": {password}})
	assert.Contains(t, p.body, "locked", "the right password after five failures")
	assert.Contains(t, p.body, `name="password"`)
}

// A category sub-scope chosen on the consent page filters what the token
// sees of the type; it never makes a search fail.
func TestGranularScopes(t *testing.T) {
	t.Parallel()
	ts := launchServer(t)
	ts.put("Observation", "lab1", `{"resourceType":"Observation","status":"final","code":{"text":"glucose"},"subject":{"reference":"Patient/p1"},
		"category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"laboratory"}]}]}`)
	ts.put("Observation", "vs1", `{"resourceType":"Observation","status":"final","code":{"text":"pulse"},"subject":{"reference":"Patient/p1"},
		"category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"vital-signs"}]}]}`)
	ts.put("DiagnosticReport", "dr1", `{"resourceType":"DiagnosticReport","status":"final","code":{"text":"panel"},"subject":{"reference":"Patient/p1"},"result":[{"reference":"Observation/lab1"},{"reference":"Observation/vs1"}]}`)
	lab := "patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory"
	back := newBrowser(ts).launch(authorizeURL(ts, "launch/patient patient/Observation.rs patient/DiagnosticReport.rs", nil),
		url.Values{"grant": {"launch/patient", lab, "patient/DiagnosticReport.rs"}})
	status, tok, _ := exchange(ts, back.Query().Get("code"), appVerifier)
	require.Equal(t, 200, status, "%v", tok)
	assert.Contains(t, strings.Fields(tok["scope"].(string)), lab)
	access := tok["access_token"].(string)
	ids := func(path string) []string { return entryKeys(t, fhirGet(ts, access, path)) }
	assert.Equal(t, []string{"Observation/lab1"}, ids("/Observation"))
	assert.Equal(t, []string{"Observation/lab1"}, ids("/Observation?patient=p1"))
	assert.Empty(t, ids("/Observation?category=vital-signs"), "filtered, not refused")
	assert.Equal(t, 200, fhirGet(ts, access, "/Observation/lab1").Status)
	assert.Equal(t, 403, fhirGet(ts, access, "/Observation/vs1").Status)
	assert.Equal(t, 403, fhirGet(ts, access, "/Observation/o1").Status)
	assert.ElementsMatch(t, []string{"DiagnosticReport/dr1", "Observation/lab1"}, ids("/DiagnosticReport?_include=DiagnosticReport:result"))
	assert.Equal(t, 403, fhirGet(ts, access, "/Condition").Status, "a type not granted at all is refused")
}

// Signing keys rotate without invalidating what the old key signed, and
// v1 scopes are granted as asked.
func TestKeyRotationAndV1Scopes(t *testing.T) {
	t.Parallel()
	ts := launchServer(t)
	idToken := func() (string, map[string]any) {
		tok := launchToken(t, ts, "launch/patient openid fhirUser patient/Observation.read offline_access", nil, nil)
		return tok["id_token"].(string), tok
	}
	before, tok := idToken()
	assert.ElementsMatch(t, strings.Fields("launch/patient openid fhirUser patient/Observation.read offline_access"), strings.Fields(tok["scope"].(string)))
	assert.Equal(t, 200, fhirGet(ts, tok["access_token"].(string), "/Observation?patient=p1").Status, "v1 read covers search")
	assert.Equal(t, 403, fhirGet(ts, tok["access_token"].(string), "/Patient/p1").Status)
	assert.Equal(t, 200, fhirGet(ts, tok["access_token"].(string), "/Practitioner/dr1").Status, "fhirUser resolves with the token")
	assert.Equal(t, 403, fhirGet(ts, tok["access_token"].(string), "/Practitioner/dr2").Status)

	require.NoError(t, ts.smart.RotateSigningKey(context.Background()))
	after, tok2 := idToken()
	kid := func(raw string) string {
		parsed, err := jwt.ParseSigned(raw)
		require.NoError(t, err)
		return parsed.Headers[0].KeyID
	}
	assert.NotEqual(t, kid(before), kid(after), "the new key signs")
	verifyIDToken(t, ts, before) // the old key is still published
	verifyIDToken(t, ts, after)
	assert.Equal(t, 200, fhirGet(ts, tok["access_token"].(string), "/Observation/o1").Status, "live tokens stay valid")

	t.Run("revocation", func(t *testing.T) {
		root := strings.TrimSuffix(ts.URL, "/fhir")
		req, err := http.NewRequest("POST", root+"/auth/revoke", strings.NewReader(url.Values{"token": {tok2["access_token"].(string)}, "client_id": {"app"}}.Encode()))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		r.Body.Close()
		assert.Equal(t, 200, r.StatusCode)
		assert.Equal(t, 401, fhirGet(ts, tok2["access_token"].(string), "/Observation/o1").Status)
		status, body, _ := tokenPost(ts, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok2["refresh_token"].(string)}, "client_id": {"app"}})
		assert.Contains(t, []int{400, 401}, status, "%v", body)
		status, body, _ = tokenPost(ts, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"made-up.token"}, "client_id": {"app"}})
		assert.Contains(t, []int{400, 401}, status, "%v", body)
	})
}

// The EHR launcher sends the browser to the app's launch URL with iss and
// a launch value that carries the picked patient and encounter.
func TestEHRLauncher(t *testing.T) {
	t.Parallel()
	ts := launchServer(t)
	b := newBrowser(ts)
	p := b.get(b.root + "/auth/launcher")
	require.Contains(t, p.body, `name="password"`)
	p = b.submit(p, url.Values{"username": {"doc"}, "password": {password}})
	require.Contains(t, p.body, `value="app"`, p.body)
	p = b.submit(p, url.Values{"_search": {"1"}, "q": {"chalmers"}})
	assert.NotContains(t, p.body, "Olive")
	p = b.submit(p, url.Values{"client": {"app"}, "patient": {"p1"}})
	require.Contains(t, p.body, `value="e1"`, p.body)
	p = b.submit(p, url.Values{"encounter": {"e1"}})
	require.Equal(t, 303, p.status, p.body)
	require.True(t, strings.HasPrefix(p.location, appLaunch+"&"), p.location)
	u, err := url.Parse(p.location)
	require.NoError(t, err)
	assert.Equal(t, ts.URL, u.Query().Get("iss"), "iss is the FHIR base, byte for byte")
	assert.Equal(t, "t1", u.Query().Get("tenant"))
	launch := u.Query().Get("launch")
	require.NotEmpty(t, launch)

	back := b.launch(authorizeURL(ts, "launch patient/*.rs", map[string]string{"launch": launch}), nil)
	status, tok, _ := exchange(ts, back.Query().Get("code"), appVerifier)
	require.Equal(t, 200, status, "%v", tok)
	assert.Equal(t, "p1", tok["patient"])
	assert.Equal(t, "e1", tok["encounter"])
	assert.Equal(t, false, tok["need_patient_banner"])
}

// A token held to one patient writes within that patient's compartment
// only, and reads the history of what it can read.
func TestPatientScopedWrites(t *testing.T) {
	t.Parallel()
	ts := launchServer(t)
	tok := launchToken(t, ts, "launch/patient patient/Observation.cruds patient/Practitioner.c", nil, nil)
	access := tok["access_token"].(string)
	obs := func(id, patient, status string) string {
		body := `{"resourceType":"Observation","status":"` + status + `","code":{"text":"x"},"subject":{"reference":"Patient/` + patient + `"}}`
		if id != "" {
			body = `{"resourceType":"Observation","id":"` + id + `",` + body[len(`{"resourceType":"Observation",`):]
		}
		return body
	}
	created := ts.doWith(access, "POST", "/Observation", fhirJSON, obs("", "p1", "final"))
	require.Equal(t, 201, created.Status, "%s", created.Body)
	newID := created.json(t)["id"].(string)

	for name, tc := range map[string]struct {
		method, path, body string
		want               int
	}{
		"create for another patient":          {"POST", "/Observation", obs("", "p2", "final"), 403},
		"create outside any compartment":      {"POST", "/Practitioner", `{"resourceType":"Practitioner"}`, 403},
		"update within the compartment":       {"PUT", "/Observation/o1", obs("o1", "p1", "amended"), 200},
		"update moving it to another patient": {"PUT", "/Observation/o1", obs("o1", "p2", "final"), 403},
		"update another patient's":            {"PUT", "/Observation/o2", obs("o2", "p1", "final"), 404},
		"update as create elsewhere":          {"PUT", "/Observation/new2", obs("new2", "p2", "final"), 403},
		"patch within the compartment":        {"PATCH", "/Observation/o1", `[{"op":"replace","path":"/status","value":"corrected"}]`, 200},
		"patch another patient's":             {"PATCH", "/Observation/o2", `[{"op":"replace","path":"/status","value":"corrected"}]`, 404},
		"delete another patient's":            {"DELETE", "/Observation/o2", "", 204}, // not seen, so nothing to delete
		"a transaction reaching out": {"POST", "", `{"resourceType":"Bundle","type":"transaction","entry":[` +
			`{"request":{"method":"POST","url":"Observation"},"resource":` + obs("", "p1", "final") + `},` +
			`{"request":{"method":"POST","url":"Observation"},"resource":` + obs("", "p2", "final") + `}]}`, 403},
		"history of another patient's": {"GET", "/Observation/o2/_history", "", 404},
		"history across the type":      {"GET", "/Observation/_history", "", 403},
	} {
		t.Run(name, func(t *testing.T) {
			ct := fhirJSON
			if tc.method == "PATCH" {
				ct = "application/json-patch+json"
			}
			r := ts.doWith(access, tc.method, tc.path, ct, tc.body)
			assert.Equal(t, tc.want, r.Status, "%s", r.Body)
		})
	}
	assert.Equal(t, 200, fhirGet(ts, access, "/Observation/o1/_history").Status)
	assert.Equal(t, 204, ts.doWith(access, "DELETE", "/Observation/"+newID, "", "").Status)
	// What was refused wrote nothing: p2 still has only o2, unchanged.
	assert.Equal(t, []string{"Observation/o2"}, entryKeys(t, ts.do("GET", "/Observation?patient=p2", "", "")))
	assert.Equal(t, "final", ts.do("GET", "/Observation/o2", "", "").json(t)["status"])
}

// The CapabilityStatement names SMART as its security service, with the
// OAuth endpoints the discovery document gives.
func TestCapabilityStatementSecurity(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	r, err := http.Get(ts.URL + "/metadata")
	require.NoError(t, err)
	defer r.Body.Close()
	var cs struct {
		Rest []struct {
			Security struct {
				Service []struct {
					Coding []struct{ System, Code string }
				}
				Extension []struct {
					URL       string
					Extension []struct{ URL, ValueURI string }
				}
			}
		}
	}
	require.NoError(t, json.NewDecoder(r.Body).Decode(&cs))
	require.Len(t, cs.Rest, 1)
	sec := cs.Rest[0].Security
	require.NotEmpty(t, sec.Service)
	assert.Equal(t, "SMART-on-FHIR", sec.Service[0].Coding[0].Code)
	assert.Equal(t, "http://terminology.hl7.org/CodeSystem/restful-security-service", sec.Service[0].Coding[0].System)
	require.Len(t, sec.Extension, 1)
	assert.Equal(t, "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris", sec.Extension[0].URL)
	uris := map[string]string{}
	for _, e := range sec.Extension[0].Extension {
		uris[e.URL] = e.ValueURI
	}
	root := strings.TrimSuffix(ts.URL, "/fhir")
	assert.Equal(t, map[string]string{"authorize": root + "/auth/authorize", "token": root + "/auth/token",
		"introspect": root + "/auth/introspect", "revoke": root + "/auth/revoke"}, uris)
}

// online_access gives a refresh token that ends with the sign-in;
// offline_access one that outlives it.
func TestOnlineAccessEndsWithTheSignIn(t *testing.T) {
	t.Parallel()
	ts := launchServer(t)
	_, err := ts.smart.RegisterClient(context.Background(), smart.Client{ID: "online-app", Public: true, RedirectURIs: []string{appRedirect},
		Scopes: strings.Fields("launch/patient online_access offline_access patient/*.rs")})
	require.NoError(t, err)
	refreshExpiry := func(scope string) time.Duration {
		back := newBrowser(ts).launch(authorizeURL(ts, scope, map[string]string{"client_id": "online-app"}), nil)
		form := url.Values{"grant_type": {"authorization_code"}, "code": {back.Query().Get("code")}, "redirect_uri": {appRedirect},
			"client_id": {"online-app"}, "code_verifier": {appVerifier}}
		status, tok, _ := tokenPost(ts, form)
		require.Equal(t, 200, status, "%v", tok)
		require.NotEmpty(t, tok["refresh_token"])
		conn, err := pgx.Connect(context.Background(), ts.owner)
		require.NoError(t, err)
		defer conn.Close(context.Background())
		var exp time.Time
		require.NoError(t, conn.QueryRow(context.Background(),
			`SELECT max(expires_at) FROM oauth2_token WHERE kind = 'refresh' AND client_id = 'online-app'`).Scan(&exp))
		return time.Until(exp)
	}
	online := refreshExpiry("launch/patient online_access patient/*.rs")
	assert.InDelta(t, (8 * time.Hour).Hours(), online.Hours(), 0.1, "the sign-in's lifespan")
	offline := refreshExpiry("launch/patient offline_access patient/*.rs")
	assert.Greater(t, offline, 24*time.Hour)
}

// A launch the EHR made for one user is not used by another.
func TestEHRLaunchForAnotherUser(t *testing.T) {
	t.Parallel()
	ts := launchServer(t)
	launch, err := ts.smart.CreateLaunch(context.Background(), smart.LaunchContext{Patient: "p1", User: "someone-else"}, "test")
	require.NoError(t, err)
	b := newBrowser(ts)
	p := b.submit(b.get(authorizeURL(ts, "launch patient/*.rs", map[string]string{"launch": launch})), url.Values{"username": {"doc"}, "password": {password}})
	require.Contains(t, []int{302, 303}, p.status, p.body)
	u, err := url.Parse(p.location)
	require.NoError(t, err)
	assert.Equal(t, "access_denied", u.Query().Get("error"))
}

// SMART's authorize-post: the app may send the authorization request as a
// form; and a browser app on another origin is answered with CORS headers.
func TestAuthorizePostAndCORS(t *testing.T) {
	t.Parallel()
	ts := launchServer(t)
	u, err := url.Parse(authorizeURL(ts, "launch/patient patient/*.rs", nil))
	require.NoError(t, err)
	b := newBrowser(ts)
	req, err := http.NewRequest("POST", b.root+"/auth/authorize", strings.NewReader(u.RawQuery))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	p := b.send(req)
	assert.Equal(t, 200, p.status)
	assert.Contains(t, p.body, `name="password"`)
	p = b.submit(p, url.Values{"username": {"doc"}, "password": {password}})
	assert.Contains(t, p.body, `value="patient"`, "the request survived the form")

	for _, path := range []string{"/fhir/Patient", "/auth/token", "/.well-known/smart-configuration", "/fhir/metadata"} {
		req, err := http.NewRequest("OPTIONS", b.root+path, nil)
		require.NoError(t, err)
		req.Header.Set("Origin", "https://app.example")
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "authorization, content-type")
		r, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		r.Body.Close()
		assert.Equal(t, "*", r.Header.Get("Access-Control-Allow-Origin"), path)
		assert.Contains(t, strings.ToLower(r.Header.Get("Access-Control-Allow-Headers")), "authorization", path)
	}
	r := fhirGet(ts, "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJhZG1pbiIsInNjb3BlIjoic3lzdGVtLyouKiJ9.", "/Patient")
	assert.Equal(t, 401, r.Status, "an unsigned JWT is no token")
	assert.Contains(t, r.Header.Get("WWW-Authenticate"), `error="invalid_token"`)
}
