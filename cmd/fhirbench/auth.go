package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// credentials are the OAuth2 client-credentials parameters.
type credentials struct {
	clientID, clientSecret, scope string
}

// token is one access token and when to stop using it (zero: never).
type token struct {
	value   string
	refresh time.Time
}

// tokenSource hands out a bearer token and fetches a new one shortly before
// the current one expires, so long runs do not fail halfway with 401s.
type tokenSource struct {
	client   *http.Client
	endpoint string
	creds    credentials
	now      func() time.Time

	current atomic.Pointer[token] // read lock-free by every request
	mu      sync.Mutex            // one fetch at a time
	fetches atomic.Int64
}

// newTokenSource discovers the token endpoint of base and fetches a first
// token, so that bad credentials fail before any load is generated.
func newTokenSource(ctx context.Context, client *http.Client, base string, creds credentials) (*tokenSource, error) {
	endpoint, err := discoverTokenEndpoint(ctx, client, base)
	if err != nil {
		return nil, err
	}
	ts := &tokenSource{client: client, endpoint: endpoint, creds: creds, now: time.Now}
	if _, err := ts.Token(ctx); err != nil {
		return nil, err
	}
	return ts, nil
}

// Token returns a valid access token, fetching one if needed.
func (ts *tokenSource) Token(ctx context.Context) (string, error) {
	if t := ts.current.Load(); t != nil && ts.fresh(t) {
		return t.value, nil
	}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if t := ts.current.Load(); t != nil && ts.fresh(t) {
		return t.value, nil // another goroutine fetched it meanwhile
	}
	t, err := ts.fetch(ctx)
	if err != nil {
		return "", err
	}
	ts.current.Store(t)
	return t.value, nil
}

func (ts *tokenSource) fresh(t *token) bool {
	return t.refresh.IsZero() || ts.now().Before(t.refresh)
}

// tokenResponse is RFC 6749 §5.1 and §5.2 in one.
type tokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
	Error       string `json:"error"`
	Description string `json:"error_description"`
}

// fetch runs the client-credentials grant with client_secret_basic.
func (ts *tokenSource) fetch(ctx context.Context) (*token, error) {
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {ts.creds.scope}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ts.endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	// RFC 6749 §2.3.1: id and secret are form-urlencoded before Basic encoding.
	req.SetBasicAuth(url.QueryEscape(ts.creds.clientID), url.QueryEscape(ts.creds.clientSecret))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := ts.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("token request: %w", err)
	}
	defer resp.Body.Close()
	var tr tokenResponse
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	_ = json.Unmarshal(body, &tr)
	if resp.StatusCode != http.StatusOK || tr.AccessToken == "" {
		return nil, fmt.Errorf("token endpoint %s: HTTP %d: %s %s", ts.endpoint, resp.StatusCode, tr.Error, tr.Description)
	}
	ts.fetches.Add(1)
	return &token{value: tr.AccessToken, refresh: ts.refreshAt(tr.ExpiresIn)}, nil
}

// refreshAt leaves a margin of a tenth of the lifetime (at most a minute) so
// that a request never starts with a token that expires in flight.
func (ts *tokenSource) refreshAt(expiresIn int64) time.Time {
	if expiresIn <= 0 {
		return time.Time{}
	}
	life := time.Duration(expiresIn) * time.Second
	return ts.now().Add(life - min(life/10, time.Minute))
}

// discoverTokenEndpoint reads token_endpoint from the SMART configuration.
func discoverTokenEndpoint(ctx context.Context, client *http.Client, base string) (string, error) {
	where := base + "/.well-known/smart-configuration"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, where, nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("SMART discovery: %w", err)
	}
	defer resp.Body.Close()
	var conf struct {
		TokenEndpoint string `json:"token_endpoint"`
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &conf) != nil || conf.TokenEndpoint == "" {
		return "", fmt.Errorf("GET %s: HTTP %d, no token_endpoint", where, resp.StatusCode)
	}
	return onBase(base, conf.TokenEndpoint)
}

// onBase resolves ref against base and refuses any other origin: the tool
// must only talk to the server under test. A loopback alias on the same port
// (localhost for 127.0.0.1) is the same server and is mapped to base's host.
func onBase(base, ref string) (string, error) {
	b, err := url.Parse(base)
	if err != nil {
		return "", err
	}
	u, err := b.Parse(ref)
	if err != nil {
		return "", fmt.Errorf("token_endpoint %q: %w", ref, err)
	}
	if u.Scheme == b.Scheme && u.Host == b.Host {
		return u.String(), nil
	}
	if u.Scheme == b.Scheme && u.Port() == b.Port() && isLoopback(u.Hostname()) && isLoopback(b.Hostname()) {
		u.Host = b.Host
		return u.String(), nil
	}
	return "", fmt.Errorf("token_endpoint %s is not on %s://%s; fhirbench only talks to the base URL's server", u, b.Scheme, b.Host)
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
