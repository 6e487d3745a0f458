package fhirserver_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v3"
	"github.com/go-jose/go-jose/v3/jwt"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirserver/fhirserver/smart"
)

// backendKey is a client's signing key and the public JWKS it registers.
type backendKey struct {
	alg  jose.SignatureAlgorithm
	priv any
	kid  string
}

func (k backendKey) jwks(t *testing.T) []byte {
	var pub any
	switch p := k.priv.(type) {
	case *rsa.PrivateKey:
		pub = &p.PublicKey
	case *ecdsa.PrivateKey:
		pub = &p.PublicKey
	}
	b, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: pub, KeyID: k.kid, Algorithm: string(k.alg), Use: "sig"}}})
	require.NoError(t, err)
	return b
}

// assertion signs a client assertion; claims override the defaults.
func (k backendKey) assertion(t *testing.T, clientID, aud string, edit func(c map[string]any)) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: k.alg, Key: jose.JSONWebKey{Key: k.priv, KeyID: k.kid}}, (&jose.SignerOptions{}).WithType("JWT"))
	require.NoError(t, err)
	c := map[string]any{"iss": clientID, "sub": clientID, "aud": aud, "exp": time.Now().Add(4 * time.Minute).Unix(),
		"jti": fmt.Sprintf("jti-%d", time.Now().UnixNano())}
	if edit != nil {
		edit(c)
	}
	raw, err := jwt.Signed(signer).Claims(c).CompactSerialize()
	require.NoError(t, err)
	return raw
}

func rsaKey(t *testing.T, kid string) backendKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	return backendKey{alg: jose.RS384, priv: k, kid: kid}
}

func ecKey(t *testing.T, kid string) backendKey {
	k, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	require.NoError(t, err)
	return backendKey{alg: jose.ES384, priv: k, kid: kid}
}

func backendToken(ts *testServer, assertion, scope string) (int, map[string]any) {
	ts.t.Helper()
	status, body, _ := tokenPost(ts, url.Values{"grant_type": {"client_credentials"}, "scope": {scope},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {assertion}})
	return status, body
}

// Backend services authenticate with a JWT signed by a registered key,
// RS384 or ES384, inline or behind a jwks_uri; every deviation SMART names
// is refused.
func TestBackendServicesWithClientAssertions(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	ctx := context.Background()
	aud := strings.TrimSuffix(ts.URL, "/fhir") + "/auth/token"
	rs, es := rsaKey(t, "rs-1"), ecKey(t, "es-1")
	// The refusals below are spread over two clients of one key: ten
	// failures lock a client (TestFailedClientAuthenticationsAreLimited).
	for id, k := range map[string]backendKey{"rs-client": rs, "rs-client-b": rs, "es-client": es} {
		_, err := ts.smart.RegisterClient(ctx, smart.Client{ID: id, JWKS: k.jwks(t), Scopes: []string{"system/*.rs"}})
		require.NoError(t, err)
	}
	published := ecKey(t, "es-2")
	jwksServer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(published.jwks(t)) }))
	t.Cleanup(jwksServer.Close)
	_, err := ts.smart.RegisterClient(ctx, smart.Client{ID: "uri-client", JWKSURI: jwksServer.URL, Scopes: []string{"system/*.rs"}})
	require.NoError(t, err)

	for _, tc := range []struct {
		name, client string
		key          backendKey
	}{{"RS384", "rs-client", rs}, {"ES384", "es-client", es}, {"keys by jwks_uri", "uri-client", published}} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := backendToken(ts, tc.key.assertion(t, tc.client, aud, nil), "system/Patient.rs")
			require.Equal(t, 200, status, "%v", body)
			r := fhirGet(ts, body["access_token"].(string), "/Patient")
			assert.Equal(t, 200, r.Status, "%s", r.Body)
		})
	}

	other := rsaKey(t, "rs-1") // same kid, another key
	hs, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: []byte("a shared secret of thirty-two bytes!")}, nil)
	require.NoError(t, err)
	hsAssertion, err := jwt.Signed(hs).Claims(map[string]any{"iss": "rs-client", "sub": "rs-client", "aud": aud,
		"exp": time.Now().Add(time.Minute).Unix(), "jti": "hs"}).CompactSerialize()
	require.NoError(t, err)
	parts := strings.Split(rs.assertion(t, "rs-client", aud, nil), ".")
	unsigned := base64URL(`{"alg":"none","typ":"JWT"}`) + "." + parts[1] + "."
	replayed := rs.assertion(t, "rs-client", aud, nil)
	status, _ := backendToken(ts, replayed, "system/Patient.rs")
	require.Equal(t, 200, status)

	refused := map[string]string{
		"replayed jti":                replayed,
		"exp more than 5 min ahead":   rs.assertion(t, "rs-client", aud, func(c map[string]any) { c["exp"] = time.Now().Add(10 * time.Minute).Unix() }),
		"expired":                     rs.assertion(t, "rs-client", aud, func(c map[string]any) { c["exp"] = time.Now().Add(-2 * time.Minute).Unix() }),
		"no exp":                      rs.assertion(t, "rs-client", aud, func(c map[string]any) { delete(c, "exp") }),
		"no jti":                      rs.assertion(t, "rs-client", aud, func(c map[string]any) { delete(c, "jti") }),
		"aud of another server":       rs.assertion(t, "rs-client", "https://elsewhere.example/token", nil),
		"iss is not sub":              rs.assertion(t, "rs-client", aud, func(c map[string]any) { c["iss"] = "es-client" }),
		"signed by another key":       other.assertion(t, "rs-client-b", aud, nil),
		"another client's key":        es.assertion(t, "rs-client-b", aud, nil),
		"alg none":                    unsigned,
		"HS256 (key confusion)":       hsAssertion,
		"RS256":                       backendKey{alg: jose.RS256, priv: rs.priv, kid: "rs-1"}.assertion(t, "rs-client-b", aud, nil),
		"unknown client":              rs.assertion(t, "nobody", aud, nil),
		"a client with a secret only": rs.assertion(t, ts.clientID, aud, nil),
	}
	for name, a := range refused {
		t.Run(name, func(t *testing.T) {
			status, body := backendToken(ts, a, "system/Patient.rs")
			assert.Contains(t, []int{400, 401}, status, "%v", body)
			assert.Equal(t, "invalid_client", body["error"], "%v", body)
			assert.NotContains(t, body, "access_token")
		})
	}
	t.Run("a scope beyond the registration", func(t *testing.T) {
		status, body := backendToken(ts, rs.assertion(t, "rs-client", aud, nil), "system/Patient.cruds")
		assert.Equal(t, 400, status, "%v", body)
		assert.Equal(t, "invalid_scope", body["error"])
	})
	t.Run("registration refuses private keys", func(t *testing.T) {
		priv, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: rs.priv, KeyID: "x"}}})
		require.NoError(t, err)
		_, err = ts.smart.RegisterClient(ctx, smart.Client{ID: "leaky", JWKS: priv, Scopes: []string{"system/*.rs"}})
		assert.Error(t, err)
	})
}

func base64URL(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
