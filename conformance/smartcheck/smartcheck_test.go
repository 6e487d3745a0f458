package smartcheck_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/fhirserver/fhirserver/conformance/smartcheck"
)

// The checks against any server: FHIR_CONFORMANCE_URL (its FHIR base), with
// FHIR_CONFORMANCE_BACKEND_ID, _SECRET and _SCOPE for a backend client and
// FHIR_CONFORMANCE_APP_ID and _REDIRECT for a registered public app. This
// server's own tests run them in fhirserver/smart_conformance_test.go.
func TestAgainstURL(t *testing.T) {
	base := os.Getenv("FHIR_CONFORMANCE_URL")
	if base == "" {
		t.Skip("FHIR_CONFORMANCE_URL is not set")
	}
	results := smartcheck.Run(context.Background(), smartcheck.Target{
		FHIRBase:  base,
		BackendID: os.Getenv("FHIR_CONFORMANCE_BACKEND_ID"), BackendSecret: os.Getenv("FHIR_CONFORMANCE_BACKEND_SECRET"),
		BackendScope: os.Getenv("FHIR_CONFORMANCE_BACKEND_SCOPE"),
		AppID:        os.Getenv("FHIR_CONFORMANCE_APP_ID"), AppRedirect: os.Getenv("FHIR_CONFORMANCE_APP_REDIRECT"),
	})
	for _, r := range results {
		switch {
		case r.Skipped != "":
			t.Logf("skip %s: %s", r.Name, r.Skipped)
		case r.Err != nil:
			t.Errorf("FAIL %s (%s): %v", r.Name, r.Spec, r.Err)
		default:
			t.Logf("pass %s", r.Name)
		}
	}
}

// The checks fail a server that breaks the rules they check.
func TestChecksCatchABadServer(t *testing.T) {
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/fhir/.well-known/smart-configuration":
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"token_endpoint":"%[1]s/token","authorization_endpoint":"%[1]s/authorize","capabilities":["launch-standalone","context-passthrough-banner"],
				"grant_types_supported":["authorization_code"],"response_types_supported":["code"],"code_challenge_methods_supported":["S256","plain"]}`, srv.URL)
		case "/fhir/Patient":
			w.WriteHeader(200) // PHI without a token
		case "/token":
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"access_token":"x","token_type":"bearer","expires_in":60}`) // anything goes
		case "/authorize":
			http.Redirect(w, r, r.URL.Query().Get("redirect_uri")+"?code=abc&state="+r.URL.Query().Get("state"), http.StatusFound)
		}
	}))
	defer srv.Close()
	results := smartcheck.Run(context.Background(), smartcheck.Target{FHIRBase: srv.URL + "/fhir", BackendID: "b", BackendSecret: "s", BackendScope: "system/*.rs",
		AppID: "a", AppRedirect: "https://app.example/cb"})
	failed := map[string]bool{}
	for _, r := range results {
		failed[r.Name] = r.Err != nil
	}
	for _, name := range []string{"discovery: capabilities are SMART's", "discovery: PKCE S256 only", "FHIR API refuses a request without a token", "token endpoint: unknown grant type",
		"token endpoint: unknown code", "authorize: PKCE required", "authorize: plain PKCE refused", "authorize: aud must be the FHIR base",
		"authorize: unregistered redirect_uri is not followed", "backend: wrong secret refused"} {
		assert.True(t, failed[name], name)
	}
}
