package smart

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"time"

	"github.com/ory/fosite"

	"github.com/fhirserver/fhirserver/storage"
)

// tokenStore is what fosite needs of the database: clients and issued
// tokens. Tokens are never deleted: revocation appends a row.
type tokenStore interface {
	Client(ctx context.Context, id string) (storage.OAuthClient, error)
	PutToken(ctx context.Context, t storage.OAuthToken) error
	Token(ctx context.Context, kind, signature string) (storage.OAuthToken, storage.OAuthClient, bool, error)
	RevokeTokens(ctx context.Context, kind, requestID string) error
}

// fositeStore adapts the database to fosite's storage interfaces.
type fositeStore struct{ db tokenStore }

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
	c, err := s.db.Client(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, fosite.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return fositeClient(c), nil
}

func fositeClient(c storage.OAuthClient) fosite.Client {
	return &fosite.DefaultClient{
		ID: c.ID, Secret: c.SecretHash, Public: c.Public,
		RedirectURIs: c.RedirectURIs, GrantTypes: c.GrantTypes,
		ResponseTypes: c.ResponseTypes, Scopes: c.Scopes,
	}
}

// JWT client assertions (private_key_jwt) are not accepted yet, so no jti
// is ever recorded; refusing keeps a replay impossible until they are.
func (s fositeStore) ClientAssertionJWTValid(context.Context, string) error {
	return fosite.ErrJTIKnown.WithHint("Client assertions are not supported.")
}

func (s fositeStore) SetClientAssertionJWT(context.Context, string, time.Time) error {
	return fosite.ErrServerError.WithHint("Client assertions are not supported.")
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
	return s.db.PutToken(ctx, storage.OAuthToken{
		Signature: signature, Kind: kind, RequestID: r.GetID(),
		ClientID: r.GetClient().GetID(), Request: body, ExpiresAt: expires,
	})
}

var tokenTypes = map[string]fosite.TokenType{
	"access": fosite.AccessToken, "refresh": fosite.RefreshToken, "code": fosite.AuthorizeCode,
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

func (s fositeStore) RotateRefreshToken(ctx context.Context, requestID, _ string) error {
	return s.RevokeRefreshToken(ctx, requestID)
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

func (s fositeStore) InvalidateAuthorizeCodeSession(ctx context.Context, code string) error {
	return s.revokeBySignature(ctx, "code", code)
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
