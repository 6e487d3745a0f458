package smart

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v3"
	"github.com/go-jose/go-jose/v3/jwt"
	"github.com/ory/fosite"

	"github.com/fhirserver/fhirserver/storage"
	"github.com/fhirserver/fhirserver/storage/oauth"
)

// SMART's asymmetric client authentication (private_key_jwt): the client
// signs a short-lived JWT with RS384 or ES384 and sends it as
// client_assertion. fosite accepts one algorithm per client; SMART wants
// both, so the assertion is checked here and everything else is left to
// fosite's default strategy.
const (
	assertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
	// maxAssertionLife is how far ahead an assertion may expire (SMART: no
	// more than five minutes), with a little leeway for clocks.
	maxAssertionLife = 5 * time.Minute
	clockSkew        = 30 * time.Second
)

var assertionAlgs = map[string]bool{"RS384": true, "ES384": true}

// authenticateClient is fosite's client authentication strategy, under
// the limits on failures: a lockout in force refuses the client before
// its credentials are looked at, and a failure counts against the client
// id and the source address.
func (p *Provider) authenticateClient(ctx context.Context, r *http.Request, form url.Values) (fosite.Client, error) {
	a := p.attempt(r, "client", claimedClient(r, form))
	c, err := p.authenticateClientOnce(context.WithValue(ctx, attemptKey{}, a), r, form)
	var locked *lockedOut
	switch {
	case err == nil:
		return c, nil
	case errors.As(err, &locked):
		p.log.Warn("client authentication refused", "reason", "locked out")
		return nil, locked
	case fosite.ErrorToRFC6749Error(err).ErrorField == fosite.ErrInvalidClient.ErrorField:
		p.fail(ctx, a)
	}
	return nil, err
}

// attemptKey carries an authentication's attempt to the client lookup,
// which reads the lockouts with the client.
type attemptKey struct{}

// claimedClient is the client id a request authenticates as, read as
// fosite reads it: HTTP Basic, else the form, else the assertion's issuer.
func claimedClient(r *http.Request, form url.Values) string {
	if id, _, ok := r.BasicAuth(); ok {
		if id, err := url.QueryUnescape(id); err == nil {
			return id
		}
	}
	if id := form.Get("client_id"); id != "" {
		return id
	}
	var claims jwt.Claims
	if tok, err := jwt.ParseSigned(form.Get("client_assertion")); err == nil && tok.UnsafeClaimsWithoutVerification(&claims) == nil {
		return claims.Issuer
	}
	return ""
}

func (p *Provider) authenticateClientOnce(ctx context.Context, r *http.Request, form url.Values) (fosite.Client, error) {
	if form.Get("client_assertion_type") == "" && form.Get("client_assertion") == "" {
		return p.oauth.(*fosite.Fosite).DefaultClientAuthenticationStrategy(ctx, r, form)
	}
	if form.Get("client_assertion_type") != assertionType {
		return nil, fosite.ErrInvalidRequest.WithHintf("client_assertion_type must be %s.", assertionType)
	}
	if _, _, basic := r.BasicAuth(); basic || form.Get("client_secret") != "" {
		return nil, fosite.ErrInvalidRequest.WithHint("Use one client authentication method, not a secret and an assertion.")
	}
	c, err := p.checkAssertion(ctx, form.Get("client_assertion"), form.Get("client_id"))
	var locked *lockedOut
	if errors.As(err, &locked) {
		return nil, locked
	}
	if err != nil {
		p.log.Warn("client assertion refused", "reason", err.Error())
		return nil, fosite.ErrInvalidClient.WithHint("The client assertion is not valid.").WithWrap(err)
	}
	return c, nil
}

func (p *Provider) checkAssertion(ctx context.Context, raw, formClientID string) (fosite.Client, error) {
	tok, err := jwt.ParseSigned(raw)
	if err != nil {
		return nil, fmt.Errorf("not a signed JWT: %w", err)
	}
	if len(tok.Headers) != 1 || !assertionAlgs[tok.Headers[0].Algorithm] {
		return nil, errors.New("the algorithm must be RS384 or ES384")
	}
	var unverified jwt.Claims
	if err := tok.UnsafeClaimsWithoutVerification(&unverified); err != nil {
		return nil, err
	}
	if unverified.Issuer == "" || unverified.Issuer != unverified.Subject || (formClientID != "" && formClientID != unverified.Issuer) {
		return nil, errors.New("iss and sub must both be the client id")
	}
	stored, err := fositeStore{p.db}.authClient(ctx, unverified.Issuer)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	keys, err := p.keysOf(ctx, stored)
	if err != nil {
		return nil, err
	}
	h := tok.Headers[0]
	var claims jwt.Claims
	verified := false
	for _, k := range keys {
		if (h.KeyID != "" && k.KeyID != h.KeyID) || !keyFits(k, h.Algorithm) {
			continue
		}
		if tok.Claims(k.Key, &claims) == nil {
			verified = true
			break
		}
	}
	if !verified {
		return nil, errors.New("no registered key of the client verifies the signature")
	}
	now := time.Now()
	if err := claims.ValidateWithLeeway(jwt.Expected{Issuer: stored.ID, Subject: stored.ID, Time: now}, clockSkew); err != nil {
		return nil, err
	}
	if !slices.Contains(claims.Audience, p.cfg.Issuer+"/auth/token") {
		return nil, errors.New("aud must be the token endpoint")
	}
	switch {
	case claims.Expiry == nil:
		return nil, errors.New("exp is required")
	case claims.Expiry.Time().After(now.Add(maxAssertionLife + clockSkew)):
		return nil, errors.New("exp is more than five minutes ahead")
	case claims.ID == "":
		return nil, errors.New("jti is required")
	}
	// Recording the jti is the check: its key refuses a second use.
	if err := p.db.UseJTI(ctx, stored.ID+" "+claims.ID, claims.Expiry.Time()); err != nil {
		if errors.Is(err, storage.ErrConflict) {
			return nil, errors.New("the jti was used before")
		}
		return nil, err
	}
	return fositeClient(stored), nil
}

// keyFits refuses key confusion: RS384 only with an RSA key, ES384 only
// with a P-384 key, and never a private or symmetric key.
func keyFits(k jose.JSONWebKey, alg string) bool {
	if k.Use != "" && k.Use != "sig" {
		return false
	}
	switch key := k.Key.(type) {
	case *rsa.PublicKey:
		return alg == "RS384" && key.N.BitLen() >= 2048
	case *ecdsa.PublicKey:
		return alg == "ES384" && key.Curve == elliptic.P384()
	}
	return false
}

// clientKeys parses a client's JWKS, keeping only public keys.
func clientKeys(raw []byte) ([]jose.JSONWebKey, error) {
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(raw, &set); err != nil {
		return nil, fmt.Errorf("the JWKS is not a JSON Web Key Set: %w", err)
	}
	var keys []jose.JSONWebKey
	for _, k := range set.Keys {
		if !k.IsPublic() {
			return nil, errors.New("the JWKS holds a private or symmetric key: register public keys only")
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, errors.New("the JWKS has no keys")
	}
	return keys, nil
}

// keysOf returns a client's registered keys, fetching a jwks_uri (cached
// briefly: a client rotating its keys publishes the new one first).
func (p *Provider) keysOf(ctx context.Context, c oauth.Client) ([]jose.JSONWebKey, error) {
	if len(c.JWKS) > 0 {
		return clientKeys(c.JWKS)
	}
	if c.JWKSURI == "" {
		return nil, errors.New("the client has no registered keys")
	}
	return p.jwks.get(ctx, c.JWKSURI)
}

// jwksCache holds fetched client key sets for a few minutes.
type jwksCache struct {
	mu      sync.Mutex
	entries map[string]jwksEntry
	client  *http.Client
}

type jwksEntry struct {
	keys  []jose.JSONWebKey
	until time.Time
}

const jwksCacheFor = 5 * time.Minute

func newJWKSCache() *jwksCache {
	return &jwksCache{entries: map[string]jwksEntry{}, client: &http.Client{Timeout: 5 * time.Second}}
}

func (c *jwksCache) get(ctx context.Context, uri string) ([]jose.JSONWebKey, error) {
	c.mu.Lock()
	e, ok := c.entries[uri]
	c.mu.Unlock()
	if ok && time.Now().Before(e.until) {
		return e.keys, nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, uri, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetching the client's jwks_uri: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetching the client's jwks_uri: status %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	keys, err := clientKeys(body)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.entries[uri] = jwksEntry{keys: keys, until: time.Now().Add(jwksCacheFor)}
	c.mu.Unlock()
	return keys, nil
}
