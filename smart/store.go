package smart

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/url"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/handler/openid"
	"github.com/ory/fosite/handler/pkce"

	"github.com/fhirserver/fhirserver/storage"
	"github.com/fhirserver/fhirserver/storage/oauth"
)

// tokenStore is what fosite needs of the database: clients and issued
// tokens. Tokens are never deleted: revocation appends a row.
type tokenStore interface {
	Client(ctx context.Context, id string) (oauth.Client, error)
	PutToken(ctx context.Context, t oauth.Token) error
	Token(ctx context.Context, kind, signature string) (oauth.Token, oauth.Client, bool, error)
	RevokeTokens(ctx context.Context, kind, requestID string) error
	RevokeToken(ctx context.Context, signature, reason string) error
	RotateRefreshToken(ctx context.Context, requestID, signature string) error
	UseJTI(ctx context.Context, jti string, expires time.Time) error
	JTIKnown(ctx context.Context, jti string) (bool, error)
	limitStore
}

// fositeStore adapts the database to fosite's storage interfaces.
type fositeStore struct{ db tokenStore }

// fosite's Compose and the factories New composes type-assert the store at
// run time (compose.go, compose_oauth2.go, compose_openid.go,
// compose_pkce.go in fosite v0.49), so a missing method would be a panic at
// startup; these make it a compile error. Each line names who asserts it.
// Not implemented, because nothing composed asks: RFC 7523 key storage
// (private_key_jwt is checked by authenticateClient), the resource owner
// password grant, PAR and storage.Transactional (both optional in fosite).
var (
	_ fosite.Storage                     = fositeStore{} // compose.Compose
	_ fosite.ClientManager               = fositeStore{} // client authentication, client assertion jti
	_ oauth2.CoreStorage                 = fositeStore{} // OAuth2AuthorizeExplicitFactory, OAuth2TokenIntrospectionFactory
	_ oauth2.AccessTokenStorage          = fositeStore{} // OAuth2ClientCredentialsGrantFactory
	_ oauth2.TokenRevocationStorage      = fositeStore{} // OAuth2AuthorizeExplicitFactory, OAuth2RefreshTokenGrantFactory, OAuth2TokenRevocationFactory
	_ pkce.PKCERequestStorage            = fositeStore{} // OAuth2PKCEFactory
	_ openid.OpenIDConnectRequestStorage = fositeStore{} // OpenIDConnectExplicitFactory
)

// storedRequest is the part of a fosite request kept with a token.
type storedRequest struct {
	ID                string          `json:"id"`
	RequestedAt       time.Time       `json:"requested_at"`
	ClientID          string          `json:"client_id"`
	RequestedScope    []string        `json:"requested_scope"`
	GrantedScope      []string        `json:"granted_scope"`
	RequestedAudience []string        `json:"requested_audience"`
	GrantedAudience   []string        `json:"granted_audience"`
	Form              url.Values      `json:"form"`
	Session           json.RawMessage `json:"session"`
}

func (s fositeStore) GetClient(ctx context.Context, id string) (fosite.Client, error) {
	c, err := s.authClient(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, fosite.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return fositeClient(c), nil
}

// authClient reads a client; while the client authenticates, with the
// lockouts on it and on the source address, refusing it when locked
// (whether or not it exists, so that a lockout tells nothing of that).
func (s fositeStore) authClient(ctx context.Context, id string) (oauth.Client, error) {
	a, ok := ctx.Value(attemptKey{}).(attempt)
	if !ok {
		return s.db.Client(ctx, id)
	}
	c, until, err := s.db.ClientForAuth(ctx, id, append([]string{"client:" + id}, a.keys...))
	if !until.IsZero() {
		return c, &lockedOut{until: until}
	}
	return c, err
}

// client is a registered client as fosite sees it, with what this server
// adds.
type client struct {
	*fosite.DefaultClient
	resourceServer bool
}

func fositeClient(c oauth.Client) fosite.Client {
	return &client{DefaultClient: &fosite.DefaultClient{
		ID: c.ID, Secret: c.SecretHash, Public: c.Public,
		RedirectURIs: c.RedirectURIs, GrantTypes: c.GrantTypes,
		ResponseTypes: c.ResponseTypes, Scopes: c.Scopes,
	}, resourceServer: c.ResourceServer}
}

// ClientAssertionJWTValid refuses a client assertion whose jti was seen.
func (s fositeStore) ClientAssertionJWTValid(ctx context.Context, jti string) error {
	known, err := s.db.JTIKnown(ctx, jti)
	if err != nil {
		return err
	}
	if known {
		return fosite.ErrJTIKnown
	}
	return nil
}

func (s fositeStore) SetClientAssertionJWT(ctx context.Context, jti string, exp time.Time) error {
	if errors.Is(s.db.UseJTI(ctx, jti, exp), storage.ErrConflict) {
		return fosite.ErrJTIKnown
	}
	return nil
}

func (s fositeStore) put(ctx context.Context, kind, signature string, r fosite.Requester) error {
	session, err := json.Marshal(r.GetSession())
	if err != nil {
		return err
	}
	body, err := json.Marshal(storedRequest{
		ID: r.GetID(), RequestedAt: r.GetRequestedAt(), ClientID: r.GetClient().GetID(),
		RequestedScope: r.GetRequestedScopes(), GrantedScope: r.GetGrantedScopes(),
		RequestedAudience: r.GetRequestedAudience(), GrantedAudience: r.GetGrantedAudience(),
		Form: sanitized(r.GetRequestForm()), Session: session,
	})
	if err != nil {
		return err
	}
	expires := r.GetSession().GetExpiresAt(tokenTypes[kind])
	if expires.IsZero() {
		expires = time.Now().Add(24 * time.Hour)
	}
	return s.db.PutToken(ctx, oauth.Token{
		Signature: signature, Kind: kind, RequestID: r.GetID(),
		ClientID: r.GetClient().GetID(), Request: body, ExpiresAt: expires,
	})
}

var tokenTypes = map[string]fosite.TokenType{
	"access": fosite.AccessToken, "refresh": fosite.RefreshToken, "code": fosite.AuthorizeCode,
	"pkce": fosite.AuthorizeCode, "oidc": fosite.AuthorizeCode,
}

// sanitized keeps the request form without credentials.
func sanitized(form url.Values) url.Values {
	out := url.Values{}
	for k, v := range form {
		switch k {
		case "client_secret", "code", "code_verifier", "refresh_token", "password", "client_assertion":
			continue
		}
		out[k] = v
	}
	return out
}

func (s fositeStore) get(ctx context.Context, kind, signature string, session fosite.Session) (fosite.Requester, error) {
	t, client, revoked, err := s.db.Token(ctx, kind, signature)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, fosite.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	var sr storedRequest
	if err := json.Unmarshal(t.Request, &sr); err != nil {
		return nil, err
	}
	if session == nil {
		session = newSession() // revocation looks tokens up without one
	}
	if err := json.Unmarshal(sr.Session, session); err != nil {
		return nil, err
	}
	r := &fosite.Request{
		ID: sr.ID, RequestedAt: sr.RequestedAt, Client: fositeClient(client),
		RequestedScope: sr.RequestedScope, GrantedScope: sr.GrantedScope,
		RequestedAudience: sr.RequestedAudience, GrantedAudience: sr.GrantedAudience,
		Form: sr.Form, Session: session,
	}
	if revoked {
		// fosite wants the request with the error: reuse detection needs it.
		return r, fosite.ErrInactiveToken
	}
	return r, nil
}

func (s fositeStore) CreateAccessTokenSession(ctx context.Context, signature string, r fosite.Requester) error {
	return s.put(ctx, "access", signature, r)
}

func (s fositeStore) GetAccessTokenSession(ctx context.Context, signature string, session fosite.Session) (fosite.Requester, error) {
	return s.get(ctx, "access", signature, session)
}

// DeleteAccessTokenSession revokes rather than deletes: tokens are append-only.
func (s fositeStore) DeleteAccessTokenSession(ctx context.Context, signature string) error {
	return s.revokeBySignature(ctx, "access", signature)
}

func (s fositeStore) CreateRefreshTokenSession(ctx context.Context, signature, _ string, r fosite.Requester) error {
	return s.put(ctx, "refresh", signature, r)
}

func (s fositeStore) GetRefreshTokenSession(ctx context.Context, signature string, session fosite.Session) (fosite.Requester, error) {
	return s.get(ctx, "refresh", signature, session)
}

func (s fositeStore) DeleteRefreshTokenSession(ctx context.Context, signature string) error {
	return s.revokeBySignature(ctx, "refresh", signature)
}

// RotateRefreshToken retires the refresh token just used and the access
// tokens issued before it, in one statement; the tokens the rotation issues
// share the grant's request id and stay valid. The revocation row is the
// rotation log entry. When a concurrent exchange of the same refresh token
// rotated it first, fosite answers this one invalid_request (hydra's
// ErrSerializationFailure contract) and issues nothing: one refresh token
// never yields two live ones.
func (s fositeStore) RotateRefreshToken(ctx context.Context, requestID, signature string) error {
	err := s.db.RotateRefreshToken(ctx, requestID, signature)
	if errors.Is(err, storage.ErrConflict) {
		return fosite.ErrSerializationFailure
	}
	return err
}

func (s fositeStore) CreateAuthorizeCodeSession(ctx context.Context, code string, r fosite.Requester) error {
	return s.put(ctx, "code", code, r)
}

func (s fositeStore) GetAuthorizeCodeSession(ctx context.Context, code string, session fosite.Session) (fosite.Requester, error) {
	r, err := s.get(ctx, "code", code, session)
	if errors.Is(err, fosite.ErrInactiveToken) {
		return r, fosite.ErrInvalidatedAuthorizeCode
	}
	return r, err
}

// InvalidateAuthorizeCodeSession marks a code used; a replay then finds it
// inactive, and fosite revokes what the code was exchanged for.
func (s fositeStore) InvalidateAuthorizeCodeSession(ctx context.Context, code string) error {
	return s.db.RevokeToken(ctx, code, "used")
}

// PKCE challenges and OpenID Connect sessions are kept as tokens of their
// own kind, keyed by the code's signature (PKCE) or the code's hash (OpenID
// Connect, which fosite hands the code itself): never by a usable value.
func (s fositeStore) CreatePKCERequestSession(ctx context.Context, signature string, r fosite.Requester) error {
	return s.put(ctx, "pkce", "pkce:"+signature, r)
}

// GetPKCERequestSession finds a challenge used up by an earlier attempt
// (right or wrong verifier) not found: fosite answers that invalid_grant,
// and the code it belongs to can never be exchanged.
func (s fositeStore) GetPKCERequestSession(ctx context.Context, signature string, session fosite.Session) (fosite.Requester, error) {
	r, err := s.get(ctx, "pkce", "pkce:"+signature, session)
	if errors.Is(err, fosite.ErrInactiveToken) {
		return nil, fosite.ErrNotFound
	}
	return r, err
}

func (s fositeStore) DeletePKCERequestSession(ctx context.Context, signature string) error {
	return s.db.RevokeToken(ctx, "pkce:"+signature, "used")
}

func oidcKey(code string) string {
	h := sha256.Sum256([]byte(code))
	return "oidc:" + hex.EncodeToString(h[:])
}

func (s fositeStore) CreateOpenIDConnectSession(ctx context.Context, code string, r fosite.Requester) error {
	return s.put(ctx, "oidc", oidcKey(code), r)
}

func (s fositeStore) GetOpenIDConnectSession(ctx context.Context, code string, r fosite.Requester) (fosite.Requester, error) {
	got, err := s.get(ctx, "oidc", oidcKey(code), newSession())
	if errors.Is(err, fosite.ErrNotFound) || errors.Is(err, fosite.ErrInactiveToken) {
		return nil, openid.ErrNoSessionFound
	}
	return got, err
}

func (s fositeStore) DeleteOpenIDConnectSession(ctx context.Context, code string) error {
	return s.db.RevokeToken(ctx, oidcKey(code), "used")
}

func (s fositeStore) RevokeRefreshToken(ctx context.Context, requestID string) error {
	return s.db.RevokeTokens(ctx, "refresh", requestID)
}

func (s fositeStore) RevokeAccessToken(ctx context.Context, requestID string) error {
	return s.db.RevokeTokens(ctx, "access", requestID)
}

func (s fositeStore) revokeBySignature(ctx context.Context, kind, signature string) error {
	t, _, _, err := s.db.Token(ctx, kind, signature)
	if errors.Is(err, storage.ErrNotFound) {
		return fosite.ErrNotFound
	}
	if err != nil {
		return err
	}
	return s.db.RevokeTokens(ctx, kind, t.RequestID)
}
