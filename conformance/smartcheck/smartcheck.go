// Package smartcheck holds black-box checks of a server's SMART App Launch
// 2.2 surface, written from the specification
// (hl7.org/fhir/smart-app-launch): discovery, the token and authorization
// endpoints' refusals, backend services and introspection. It speaks HTTP
// only and imports nothing of this server, so it can check any server.
package smartcheck

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Target is the server to check and the credentials it was given for it.
type Target struct {
	FHIRBase string
	HTTP     *http.Client // nil: a client with a 30 s timeout
	// A confidential backend-services client (client_secret_basic) and a
	// system scope it may be granted; the backend checks are skipped
	// without them.
	BackendID, BackendSecret, BackendScope string
	// A registered public app and one of its redirect URIs; the
	// authorization endpoint checks are skipped without them.
	AppID, AppRedirect string
}

// Result is one check's outcome: Err nil means it passed; Skipped says why
// it did not run.
type Result struct {
	Name, Spec string
	Err        error
	Skipped    string
}

type check struct {
	name, spec string
	run        func(ctx context.Context, c *checker) error
}

// checker carries what the checks learn (the discovery document) between
// them.
type checker struct {
	t         Target
	discovery map[string]any
}

// Run runs every check in order and returns their results.
func Run(ctx context.Context, t Target) []Result {
	if t.HTTP == nil {
		t.HTTP = &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	t.FHIRBase = strings.TrimRight(t.FHIRBase, "/")
	c := &checker{t: t}
	var out []Result
	for _, ch := range checks {
		r := Result{Name: ch.name, Spec: ch.spec}
		if why := c.skip(ch.name); why != "" {
			r.Skipped = why
		} else {
			r.Err = ch.run(ctx, c)
		}
		out = append(out, r)
	}
	return out
}

func (c *checker) skip(name string) string {
	switch {
	case c.discovery == nil && name != checks[0].name:
		return "no discovery document"
	case strings.HasPrefix(name, "backend") && c.t.BackendID == "":
		return "no backend client given"
	case strings.HasPrefix(name, "authorize") && c.t.AppID == "":
		return "no public app given"
	}
	return ""
}

const spec = "https://hl7.org/fhir/smart-app-launch/"

var checks = []check{
	{"discovery document", spec + "conformance.html#using-well-known", checkDiscovery},
	{"discovery: capabilities are SMART's", spec + "conformance.html#capabilities", checkCapabilityNames},
	{"discovery: PKCE S256 only", spec + "app-launch.html#considerations-for-pkce-support", checkPKCEAdvertised},
	{"discovery: OpenID Connect configuration", spec + "scopes-and-launch-context.html#scopes-for-requesting-identity-data", checkOpenID},
	{"FHIR API refuses a request without a token", spec + "app-launch.html#access-denied-response-handling", checkNoToken},
	{"token endpoint: unknown grant type", "https://www.rfc-editor.org/rfc/rfc6749#section-5.2", checkUnknownGrant},
	{"token endpoint: unknown code", spec + "app-launch.html#step-5-access-token", checkUnknownCode},
	{"authorize: PKCE required", spec + "app-launch.html#considerations-for-pkce-support", checkPKCERequired},
	{"authorize: plain PKCE refused", spec + "app-launch.html#considerations-for-pkce-support", checkPlainRefused},
	{"authorize: aud must be the FHIR base", spec + "app-launch.html#obtain-authorization-code", checkAud},
	{"authorize: unregistered redirect_uri is not followed", "https://www.rfc-editor.org/rfc/rfc6749#section-4.1.2.1", checkRedirectURI},
	{"backend: client credentials token", spec + "backend-services.html#issue-access-token", checkBackendToken},
	{"backend: wrong secret refused", "https://www.rfc-editor.org/rfc/rfc6749#section-5.2", checkBackendWrongSecret},
	{"backend: introspection of an unknown token", spec + "token-introspection.html", checkIntrospectUnknown},
}

func (c *checker) get(ctx context.Context, u string, header ...string) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, nil, err
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return c.do(req)
}

func (c *checker) postForm(ctx context.Context, u string, form url.Values, basicID, basicSecret string) (*http.Response, map[string]any, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basicID != "" {
		req.SetBasicAuth(url.QueryEscape(basicID), url.QueryEscape(basicSecret))
	}
	resp, body, err := c.do(req)
	if err != nil {
		return nil, nil, err
	}
	var m map[string]any
	if len(body) > 0 {
		if err := json.Unmarshal(body, &m); err != nil {
			return resp, nil, fmt.Errorf("%s answered status %d with a body that is not JSON", u, resp.StatusCode)
		}
	}
	return resp, m, nil
}

func (c *checker) do(req *http.Request) (*http.Response, []byte, error) {
	resp, err := c.t.HTTP.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	return resp, body, err
}

func (c *checker) str(key string) string {
	s, _ := c.discovery[key].(string)
	return s
}

func (c *checker) list(key string) []string {
	var out []string
	items, _ := c.discovery[key].([]any)
	for _, i := range items {
		if s, ok := i.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func (c *checker) has(capability string) bool {
	return slices.Contains(c.list("capabilities"), capability)
}
