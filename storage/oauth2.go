package storage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// OAuthSecret returns the authorization server's HMAC key, storing the one
// fresh() makes if there is none yet. Concurrent first starts agree on one.
func (s *Store) OAuthSecret(ctx context.Context, fresh func() ([]byte, error)) ([]byte, error) {
	var secret []byte
	err := s.pool.QueryRow(ctx, `SELECT secret FROM oauth2_secret WHERE id = 1`).Scan(&secret)
	if err == nil {
		return secret, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("storage: oauth2 secret: %w", err)
	}
	candidate, err := fresh()
	if err != nil {
		return nil, err
	}
	err = s.pool.QueryRow(ctx, `
		WITH ins AS (INSERT INTO oauth2_secret (id, secret) VALUES (1, $1) ON CONFLICT (id) DO NOTHING RETURNING secret)
		SELECT secret FROM ins UNION ALL SELECT secret FROM oauth2_secret WHERE id = 1 LIMIT 1`, candidate).Scan(&secret)
	if err != nil {
		return nil, fmt.Errorf("storage: oauth2 secret: %w", err)
	}
	return secret, nil
}

// OAuthClient is a registered OAuth2 client as stored.
type OAuthClient struct {
	ID            string
	SecretHash    []byte // nil for a public client
	Public        bool
	RedirectURIs  []string
	GrantTypes    []string
	ResponseTypes []string
	Scopes        []string
	JWKS          json.RawMessage
	LaunchURL     string // the app's EHR launch page; empty when none
	JWKSURI       string // where the client's public keys are published; empty when none
	// ResourceServer may introspect every client's tokens; any other
	// client only its own.
	ResourceServer bool
}

// PutClient registers a client; ErrConflict when the id is taken.
func (s *Store) PutClient(ctx context.Context, c OAuthClient) error {
	var hash *string
	if c.SecretHash != nil {
		h := string(c.SecretHash)
		hash = &h
	}
	var jwks any
	if len(c.JWKS) > 0 {
		jwks = c.JWKS
	}
	_, err := s.pool.Exec(ctx, adminAudited(`
		INSERT INTO oauth2_client (id, secret_hash, public, redirect_uris, grant_types, response_types, scopes, jwks, launch_url, jwks_uri, resource_server)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, nullif($9, ''), nullif($10, ''), $11) RETURNING 'client:' || id AS target`, "client.create", 11),
		c.ID, hash, c.Public, nonNil(c.RedirectURIs), nonNil(c.GrantTypes), nonNil(c.ResponseTypes), nonNil(c.Scopes), jwks, c.LaunchURL, c.JWKSURI,
		c.ResourceServer, actorOf(ctx))
	if isUniqueViolation(err) {
		return ErrConflict
	}
	if err != nil {
		return fmt.Errorf("storage: put client: %w", err)
	}
	return nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// Client reads a registered client; ErrNotFound when there is none.
func (s *Store) Client(ctx context.Context, id string) (OAuthClient, error) {
	var r clientRow
	err := s.pool.QueryRow(ctx, `SELECT `+clientColumns+` FROM oauth2_client c WHERE c.id = $1`, id).Scan(r.dest()...)
	if errors.Is(err, pgx.ErrNoRows) {
		return OAuthClient{ID: id}, ErrNotFound
	}
	if err != nil {
		return OAuthClient{ID: id}, fmt.Errorf("storage: client: %w", err)
	}
	return r.client(), nil
}

// ClientForAuth reads a client that is authenticating together with when
// the lockouts in force on lockKeys end (zero when none): one round trip,
// so that checking the lockout costs a successful authentication nothing.
// ErrNotFound when there is no such client, with the lockout still read.
func (s *Store) ClientForAuth(ctx context.Context, id string, lockKeys []string) (OAuthClient, time.Time, error) {
	var r clientRow
	var until *time.Time
	err := s.pool.QueryRow(ctx, `SELECT `+clientColumns+`, `+authLockedUntil("$2")+` FROM oauth2_client c WHERE c.id = $1`, id, lockKeys).
		Scan(append(r.dest(), &until)...)
	if errors.Is(err, pgx.ErrNoRows) {
		locked, err := s.AuthLockedUntil(ctx, lockKeys)
		if err != nil {
			return OAuthClient{ID: id}, time.Time{}, err
		}
		return OAuthClient{ID: id}, locked, ErrNotFound
	}
	if err != nil {
		return OAuthClient{ID: id}, time.Time{}, fmt.Errorf("storage: client: %w", err)
	}
	return r.client(), orZero(until), nil
}

// clientColumns are the columns of oauth2_client, aliased c, that a
// clientRow scans.
const clientColumns = `c.id, c.secret_hash, c.public, c.redirect_uris, c.grant_types, c.response_types, c.scopes, c.jwks, coalesce(c.launch_url, ''), coalesce(c.jwks_uri, ''), c.resource_server`

type clientRow struct {
	c    OAuthClient
	hash *string // NULL for a public client
}

func (r *clientRow) dest() []any {
	return []any{&r.c.ID, &r.hash, &r.c.Public, &r.c.RedirectURIs, &r.c.GrantTypes, &r.c.ResponseTypes, &r.c.Scopes, &r.c.JWKS, &r.c.LaunchURL, &r.c.JWKSURI, &r.c.ResourceServer}
}

func (r *clientRow) client() OAuthClient {
	if r.hash != nil {
		r.c.SecretHash = []byte(*r.hash)
	}
	return r.c
}

// OAuthToken is an issued token (or code) as stored: its signature, the
// grant it belongs to and the serialized request behind it.
type OAuthToken struct {
	Signature string
	Kind      string
	RequestID string
	ClientID  string
	Request   []byte
	ExpiresAt time.Time
}

// PutToken records an issued token.
func (s *Store) PutToken(ctx context.Context, t OAuthToken) error {
	_, err := s.pool.Exec(ctx, `
		INSERT INTO oauth2_token (signature, kind, request_id, client_id, request, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6)`,
		t.Signature, t.Kind, t.RequestID, t.ClientID, t.Request, t.ExpiresAt)
	if err != nil {
		return fmt.Errorf("storage: put token: %w", err)
	}
	return nil
}

// Token reads an issued token of a kind by signature together with its
// client, and whether its grant was revoked: one round trip, since every
// API request checks its token. ErrNotFound when the token was never issued
// or its client is not registered.
func (s *Store) Token(ctx context.Context, kind, signature string) (OAuthToken, OAuthClient, bool, error) {
	t := OAuthToken{Signature: signature, Kind: kind}
	var c clientRow
	var revoked bool
	err := s.pool.QueryRow(ctx, `
		SELECT t.request_id, t.client_id, t.request, t.expires_at,
		       EXISTS (SELECT 1 FROM oauth2_revocation r WHERE r.request_id = t.request_id AND r.kind = t.kind)
		         OR EXISTS (SELECT 1 FROM oauth2_token_revocation r WHERE r.signature = t.signature),
		       `+clientColumns+`
		FROM oauth2_token t JOIN oauth2_client c ON c.id = t.client_id
		WHERE t.signature = $1 AND t.kind = $2`, signature, kind).
		Scan(append([]any{&t.RequestID, &t.ClientID, &t.Request, &t.ExpiresAt, &revoked}, c.dest()...)...)
	if errors.Is(err, pgx.ErrNoRows) {
		return t, OAuthClient{}, false, ErrNotFound
	}
	if err != nil {
		return t, OAuthClient{}, false, fmt.Errorf("storage: token: %w", err)
	}
	return t, c.client(), revoked, nil
}

// RevokeTokens revokes every token of a kind issued for a grant (request id).
func (s *Store) RevokeTokens(ctx context.Context, kind, requestID string) error {
	_, err := s.pool.Exec(ctx, `
		INSERT INTO oauth2_revocation (request_id, kind) VALUES ($1, $2)
		ON CONFLICT (request_id, kind) DO NOTHING`, requestID, kind)
	if err != nil {
		return fmt.Errorf("storage: revoke: %w", err)
	}
	return nil
}
