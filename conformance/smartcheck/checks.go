package smartcheck

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/url"
	"slices"
	"strings"
)

func checkDiscovery(ctx context.Context, c *checker) error {
	resp, body, err := c.get(ctx, c.t.FHIRBase+"/.well-known/smart-configuration", "Accept", "application/json")
	if err != nil {
		return err
	}
	if resp.StatusCode != 200 {
		return fmt.Errorf("status %d, want 200", resp.StatusCode)
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "application/json" {
		return fmt.Errorf("Content-Type %q, want application/json", resp.Header.Get("Content-Type"))
	}
	if err := json.Unmarshal(body, &c.discovery); err != nil {
		return fmt.Errorf("not a JSON object: %w", err)
	}
	var missing []string
	for _, k := range []string{"token_endpoint", "capabilities", "grant_types_supported", "code_challenge_methods_supported"} {
		if c.discovery[k] == nil {
			missing = append(missing, k)
		}
	}
	if c.has("launch-ehr") || c.has("launch-standalone") {
		for _, k := range []string{"authorization_endpoint", "response_types_supported"} {
			if c.discovery[k] == nil {
				missing = append(missing, k)
			}
		}
	}
	if c.has("sso-openid-connect") {
		for _, k := range []string{"issuer", "jwks_uri"} {
			if c.discovery[k] == nil {
				missing = append(missing, k)
			}
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing %s", strings.Join(missing, ", "))
	}
	for _, k := range []string{"token_endpoint", "authorization_endpoint", "introspection_endpoint", "revocation_endpoint", "jwks_uri"} {
		if v := c.str(k); v != "" {
			if u, err := url.Parse(v); err != nil || !u.IsAbs() {
				return fmt.Errorf("%s %q is not an absolute URL", k, v)
			}
		}
	}
	return nil
}

// smartCapabilities are the capability names SMART App Launch 2.2 defines
// (conformance.html#capabilities).
var smartCapabilities = []string{
	"launch-ehr", "launch-standalone", "authorize-post",
	"client-public", "client-confidential-symmetric", "client-confidential-asymmetric",
	"sso-openid-connect", "context-banner", "context-style",
	"context-ehr-patient", "context-ehr-encounter", "context-standalone-patient", "context-standalone-encounter",
	"permission-offline", "permission-online", "permission-patient", "permission-user", "permission-v1", "permission-v2",
	"smart-app-state",
}

// checkCapabilityNames: a capability under another name (an older draft's
// context-passthrough-banner) is one a client looking for SMART's never
// finds.
func checkCapabilityNames(_ context.Context, c *checker) error {
	var unknown []string
	for _, capability := range c.list("capabilities") {
		if !slices.Contains(smartCapabilities, capability) {
			unknown = append(unknown, capability)
		}
	}
	if len(unknown) > 0 {
		return fmt.Errorf("capabilities SMART does not define: %s", strings.Join(unknown, ", "))
	}
	return nil
}

func checkPKCEAdvertised(_ context.Context, c *checker) error {
	methods := c.list("code_challenge_methods_supported")
	if !slices.Contains(methods, "S256") {
		return fmt.Errorf("code_challenge_methods_supported %v lacks S256", methods)
	}
	if slices.Contains(methods, "plain") {
		return errors.New("code_challenge_methods_supported must not offer plain")
	}
	return nil
}

func checkOpenID(ctx context.Context, c *checker) error {
	if !c.has("sso-openid-connect") {
		return nil
	}
	resp, body, err := c.get(ctx, strings.TrimRight(c.str("issuer"), "/")+"/.well-known/openid-configuration")
	if err != nil {
		return err
	}
	var oidc map[string]any
	if resp.StatusCode != 200 || json.Unmarshal(body, &oidc) != nil {
		return fmt.Errorf("openid-configuration: status %d", resp.StatusCode)
	}
	if oidc["issuer"] != c.str("issuer") {
		return fmt.Errorf("the OpenID issuer %v is not the SMART issuer %q", oidc["issuer"], c.str("issuer"))
	}
	algs, _ := oidc["id_token_signing_alg_values_supported"].([]any)
	if !slices.Contains(algs, any("RS256")) {
		return errors.New("id_token_signing_alg_values_supported lacks RS256")
	}
	resp, body, err = c.get(ctx, c.str("jwks_uri"))
	if err != nil {
		return err
	}
	var jwks struct {
		Keys []map[string]any `json:"keys"`
	}
	if resp.StatusCode != 200 || json.Unmarshal(body, &jwks) != nil || len(jwks.Keys) == 0 {
		return fmt.Errorf("jwks_uri: status %d, or no keys", resp.StatusCode)
	}
	for _, k := range jwks.Keys {
		if k["kid"] == nil {
			return errors.New("a JWKS key has no kid")
		}
		if k["d"] != nil {
			return errors.New("the JWKS publishes a private key")
		}
	}
	return nil
}

func checkNoToken(ctx context.Context, c *checker) error {
	resp, _, err := c.get(ctx, c.t.FHIRBase+"/Patient", "Accept", "application/fhir+json")
	if err != nil {
		return err
	}
	if resp.StatusCode != 401 {
		return fmt.Errorf("status %d, want 401", resp.StatusCode)
	}
	if !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
		return fmt.Errorf("WWW-Authenticate %q, want a Bearer challenge", resp.Header.Get("WWW-Authenticate"))
	}
	return nil
}

func checkUnknownGrant(ctx context.Context, c *checker) error {
	resp, body, err := c.postForm(ctx, c.str("token_endpoint"), url.Values{"grant_type": {"urn:example:made-up"}}, "", "")
	if err != nil {
		return err
	}
	if resp.StatusCode != 400 || (body["error"] != "unsupported_grant_type" && body["error"] != "invalid_request" && body["error"] != "invalid_client") {
		return fmt.Errorf("status %d error %v, want 400 unsupported_grant_type", resp.StatusCode, body["error"])
	}
	return nil
}

func checkUnknownCode(ctx context.Context, c *checker) error {
	if c.t.AppID == "" {
		return nil
	}
	resp, body, err := c.postForm(ctx, c.str("token_endpoint"), url.Values{"grant_type": {"authorization_code"}, "code": {"not-a-code"},
		"redirect_uri": {c.t.AppRedirect}, "client_id": {c.t.AppID}, "code_verifier": {strings.Repeat("v", 50)}}, "", "")
	if err != nil {
		return err
	}
	if resp.StatusCode != 400 || body["error"] != "invalid_grant" {
		return fmt.Errorf("status %d error %v, want 400 invalid_grant", resp.StatusCode, body["error"])
	}
	return nil
}

// authorize sends an authorization request with the given changes to a
// well-formed one and returns the redirect it gets (nil when none).
func (c *checker) authorize(ctx context.Context, change map[string]string) (status int, redirect *url.URL, err error) {
	q := url.Values{"response_type": {"code"}, "client_id": {c.t.AppID}, "redirect_uri": {c.t.AppRedirect},
		"scope": {"launch/patient patient/Patient.rs"}, "state": {"conformance-state-1"}, "aud": {c.t.FHIRBase},
		"code_challenge": {"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"}, "code_challenge_method": {"S256"}}
	for k, v := range change {
		if v == "" {
			q.Del(k)
		} else {
			q.Set(k, v)
		}
	}
	resp, _, err := c.get(ctx, c.str("authorization_endpoint")+"?"+q.Encode())
	if err != nil {
		return 0, nil, err
	}
	if loc := resp.Header.Get("Location"); loc != "" {
		redirect, err = url.Parse(loc)
	}
	return resp.StatusCode, redirect, err
}

// refused wants an error: at the app's redirect URI with its state, or a
// page of the server's own, but never a code.
func (c *checker) refused(ctx context.Context, change map[string]string) error {
	status, redirect, err := c.authorize(ctx, change)
	if err != nil {
		return err
	}
	if redirect == nil {
		if status < 400 {
			return fmt.Errorf("status %d without a redirect: the request was not refused", status)
		}
		return nil
	}
	if redirect.Query().Get("code") != "" {
		return errors.New("a code was issued")
	}
	if !strings.HasPrefix(redirect.String(), c.t.AppRedirect) {
		return nil // the server's own sign-in or error page: not a refusal yet
	}
	if redirect.Query().Get("error") == "" || redirect.Query().Get("state") != "conformance-state-1" {
		return fmt.Errorf("redirected to the app without error and state: %s", redirect)
	}
	return nil
}

func checkPKCERequired(ctx context.Context, c *checker) error {
	return c.mustRefuse(ctx, map[string]string{"code_challenge": "", "code_challenge_method": ""})
}

func checkPlainRefused(ctx context.Context, c *checker) error {
	return c.mustRefuse(ctx, map[string]string{"code_challenge": strings.Repeat("p", 50), "code_challenge_method": "plain"})
}

func checkAud(ctx context.Context, c *checker) error {
	return c.mustRefuse(ctx, map[string]string{"aud": "https://not-this-server.example/fhir"})
}

// mustRefuse wants the refusal before any sign-in page: a server that
// shows its login first only finds out later, after the user has typed a
// password for a request that was bound to fail.
func (c *checker) mustRefuse(ctx context.Context, change map[string]string) error {
	status, redirect, err := c.authorize(ctx, change)
	if err != nil {
		return err
	}
	if redirect != nil && strings.HasPrefix(redirect.String(), c.t.AppRedirect) && redirect.Query().Get("error") != "" {
		return c.refused(ctx, change)
	}
	if redirect == nil && status >= 400 {
		return nil
	}
	return fmt.Errorf("status %d, redirect %v: not refused at once", status, redirect)
}

func checkRedirectURI(ctx context.Context, c *checker) error {
	status, redirect, err := c.authorize(ctx, map[string]string{"redirect_uri": "https://attacker.example/callback"})
	if err != nil {
		return err
	}
	if redirect != nil && redirect.Host == "attacker.example" {
		return errors.New("the server redirected to an unregistered redirect_uri")
	}
	if status < 400 && redirect == nil {
		return fmt.Errorf("status %d: the request was not refused", status)
	}
	return nil
}

func checkBackendToken(ctx context.Context, c *checker) error {
	resp, body, err := c.postForm(ctx, c.str("token_endpoint"), url.Values{"grant_type": {"client_credentials"}, "scope": {c.t.BackendScope}},
		c.t.BackendID, c.t.BackendSecret)
	if err != nil {
		return err
	}
	if resp.StatusCode != 200 {
		return fmt.Errorf("status %d: %v", resp.StatusCode, body)
	}
	if !strings.Contains(resp.Header.Get("Cache-Control"), "no-store") {
		return errors.New("the token response lacks Cache-Control: no-store")
	}
	tok, _ := body["access_token"].(string)
	if tok == "" || !strings.EqualFold(fmt.Sprint(body["token_type"]), "bearer") || body["expires_in"] == nil {
		return fmt.Errorf("token response %v lacks access_token, token_type bearer or expires_in", keys(body))
	}
	if body["refresh_token"] != nil {
		return errors.New("client credentials must not get a refresh token")
	}
	r, _, err := c.get(ctx, c.t.FHIRBase+"/metadata", "Authorization", "Bearer "+tok)
	if err != nil || r.StatusCode != 200 {
		return fmt.Errorf("metadata with the token: %v %v", err, r)
	}
	return nil
}

func checkBackendWrongSecret(ctx context.Context, c *checker) error {
	resp, body, err := c.postForm(ctx, c.str("token_endpoint"), url.Values{"grant_type": {"client_credentials"}, "scope": {c.t.BackendScope}},
		c.t.BackendID, c.t.BackendSecret+"x")
	if err != nil {
		return err
	}
	if resp.StatusCode != 401 || body["error"] != "invalid_client" {
		return fmt.Errorf("status %d error %v, want 401 invalid_client", resp.StatusCode, body["error"])
	}
	return nil
}

func checkIntrospectUnknown(ctx context.Context, c *checker) error {
	endpoint := c.str("introspection_endpoint")
	if endpoint == "" {
		return nil
	}
	resp, body, err := c.postForm(ctx, endpoint, url.Values{"token": {"not-a-token"}}, c.t.BackendID, c.t.BackendSecret)
	if err != nil {
		return err
	}
	if resp.StatusCode != 200 || body["active"] != false || len(body) != 1 {
		return fmt.Errorf("status %d body %v, want 200 {\"active\": false}", resp.StatusCode, body)
	}
	return nil
}

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
