package smart

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"

	"github.com/fhirserver/fhirserver/outcome"
	"github.com/fhirserver/fhirserver/storage"
	"github.com/fhirserver/fhirserver/storage/oauth"
)

// Client is an OAuth2 client to register.
type Client struct {
	ID           string
	Secret       string // a confidential client's secret; generated when empty
	Public       bool
	RedirectURIs []string
	Scopes       []string
	GrantTypes   []string // default: client_credentials when confidential without redirect URIs
	JWKS         []byte   // public keys for private_key_jwt, inline
	JWKSURI      string   // or where the client publishes them
	LaunchURL    string   // the app's launch page, for EHR launch
	// ResourceServer may introspect every client's tokens (RFC 7662);
	// any other client only its own.
	ResourceServer bool
}

// grantTypes this server can issue tokens for today.
var supportedGrants = []string{"authorization_code", "client_credentials", "refresh_token"}

// RegisterClient stores a client, its secret hashed; it returns the secret,
// which is generated when c.Secret is empty for a confidential client.
func (p *Provider) RegisterClient(ctx context.Context, c Client) (string, error) {
	if err := p.checkClient(&c); err != nil {
		return "", err
	}
	stored := oauth.Client{
		ID: c.ID, Public: c.Public, RedirectURIs: c.RedirectURIs,
		GrantTypes: c.GrantTypes, Scopes: c.Scopes, JWKS: json.RawMessage(c.JWKS), LaunchURL: c.LaunchURL, JWKSURI: c.JWKSURI,
		ResourceServer: c.ResourceServer,
	}
	if slices.Contains(c.GrantTypes, "authorization_code") {
		stored.ResponseTypes = []string{"code"}
	}
	asymmetric := len(c.JWKS) > 0 || c.JWKSURI != ""
	if !c.Public && (c.Secret != "" || !asymmetric) {
		if c.Secret == "" {
			b := make([]byte, 32)
			if _, err := rand.Read(b); err != nil {
				return "", err
			}
			c.Secret = base64.RawURLEncoding.EncodeToString(b)
		}
		hash, err := p.config.GetSecretsHasher(ctx).Hash(ctx, []byte(c.Secret))
		if err != nil {
			return "", err
		}
		stored.SecretHash = hash
	}
	err := p.db.PutClient(ctx, stored)
	if errors.Is(err, storage.ErrConflict) {
		return "", outcome.E(outcome.Conflict, "a client with id %q is already registered", c.ID)
	}
	if err != nil {
		return "", err
	}
	return c.Secret, nil
}

func (p *Provider) checkClient(c *Client) error {
	invalid := func(format string, args ...any) error {
		return outcome.E(outcome.Invalid, "client: "+format, args...)
	}
	if c.ID == "" {
		return invalid("an id is required")
	}
	if c.Public && c.Secret != "" {
		return invalid("a public client has no secret")
	}
	if len(c.GrantTypes) == 0 {
		c.GrantTypes = []string{"client_credentials"}
		if len(c.RedirectURIs) > 0 {
			c.GrantTypes = []string{"authorization_code", "refresh_token"}
		}
	}
	if slices.Contains(c.GrantTypes, "authorization_code") && len(c.RedirectURIs) == 0 {
		return invalid("the authorization_code grant needs at least one --redirect-uri")
	}
	for _, g := range c.GrantTypes {
		if !slices.Contains(supportedGrants, g) {
			return invalid("grant type %q is not supported yet (supported: %v)", g, supportedGrants)
		}
	}
	if c.Public && c.ResourceServer {
		return invalid("a resource server authenticates: it cannot be a public client")
	}
	if c.Public && slices.Contains(c.GrantTypes, "client_credentials") {
		return invalid("a public client cannot use client_credentials")
	}
	for _, s := range c.Scopes {
		if !ValidScope(s) {
			return invalid("scope %q is not a SMART scope", s)
		}
	}
	for _, u := range append(slices.Clone(c.RedirectURIs), c.LaunchURL) {
		if u == "" {
			continue
		}
		if err := checkRedirectURI(u); err != nil {
			return invalid("%v", err)
		}
	}
	if c.Public && (len(c.JWKS) > 0 || c.JWKSURI != "") {
		return invalid("a public client has no keys")
	}
	if len(c.JWKS) > 0 {
		if _, err := clientKeys(c.JWKS); err != nil {
			return invalid("%v", err)
		}
	}
	if c.JWKSURI != "" {
		if err := checkRedirectURI(c.JWKSURI); err != nil {
			return invalid("jwks_uri: %v", err)
		}
	}
	return nil
}

// checkRedirectURI applies RFC 6749 3.1.2: absolute, no fragment; and
// refuses plain http except to the loopback interface.
func checkRedirectURI(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" {
		return fmt.Errorf("redirect URI %q is not an absolute URL", raw)
	}
	if u.Fragment != "" {
		return fmt.Errorf("redirect URI %q has a fragment", raw)
	}
	if u.Scheme == "http" && u.Hostname() != "localhost" && u.Hostname() != "127.0.0.1" && u.Hostname() != "::1" {
		return fmt.Errorf("redirect URI %q must use https", raw)
	}
	return nil
}
