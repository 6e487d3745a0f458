package oauth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/fhirserver/fhirserver/storage"
)

// Token is an issued token (or code) as stored: its signature, the grant
// it belongs to and the serialized request behind it. Every kind (access,
// refresh, code, pkce, oidc) has this one row shape, in oauth2_token.
//
// The database keeps only the SHA-256 of the signature (Hash): a reader of
// the database learns no signature it could present. Methods take and
// return the signature itself and hash it on the way in.
type Token struct {
	Signature string
	Kind      string
	RequestID string
	ClientID  string
	Request   []byte
	ExpiresAt time.Time
}

// PutToken records an issued token.
func (s *Store) PutToken(ctx context.Context, t Token) error {
	_, err := s.db.Exec(ctx, `
		INSERT INTO oauth2_token (signature, kind, request_id, client_id, request, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6)`,
		Hash(t.Signature), t.Kind, t.RequestID, t.ClientID, t.Request, t.ExpiresAt)
	if err != nil {
		return fmt.Errorf("storage: put token: %w", err)
	}
	return nil
}

// Token reads an issued token of a kind by signature together with its
// client, and whether its grant was revoked: one round trip, since every
// API request checks its token. storage.ErrNotFound when the token was
// never issued or its client is not registered.
func (s *Store) Token(ctx context.Context, kind, signature string) (Token, Client, bool, error) {
	t := Token{Signature: signature, Kind: kind}
	var c clientRow
	var revoked bool
	err := s.db.QueryRow(ctx, `
		SELECT t.request_id, t.client_id, t.request, t.expires_at,
		       EXISTS (SELECT 1 FROM oauth2_revocation r WHERE r.request_id = t.request_id AND r.kind = t.kind)
		         OR EXISTS (SELECT 1 FROM oauth2_token_revocation r WHERE r.signature = t.signature),
		       `+clientColumns+`
		FROM oauth2_token t JOIN oauth2_client c ON c.id = t.client_id
		WHERE t.signature = $1 AND t.kind = $2`, Hash(signature), kind).
		Scan(append([]any{&t.RequestID, &t.ClientID, &t.Request, &t.ExpiresAt, &revoked}, c.dest()...)...)
	if errors.Is(err, pgx.ErrNoRows) {
		return t, Client{}, false, storage.ErrNotFound
	}
	if err != nil {
		return t, Client{}, false, fmt.Errorf("storage: token: %w", err)
	}
	return t, c.client(), revoked, nil
}

// RevokeTokens revokes every token of a kind issued for a grant (request
// id), those issued later included.
func (s *Store) RevokeTokens(ctx context.Context, kind, requestID string) error {
	_, err := s.db.Exec(ctx, `
		INSERT INTO oauth2_revocation (request_id, kind) VALUES ($1, $2)
		ON CONFLICT (request_id, kind) DO NOTHING`, requestID, kind)
	if err != nil {
		return fmt.Errorf("storage: revoke: %w", err)
	}
	return nil
}

// RevokeToken revokes one token by signature, for a reason: superseded
// or used. Revoking it again changes nothing.
func (s *Store) RevokeToken(ctx context.Context, signature, reason string) error {
	_, err := s.db.Exec(ctx, `INSERT INTO oauth2_token_revocation (signature, reason) VALUES ($1, $2) ON CONFLICT (signature) DO NOTHING`,
		Hash(signature), reason)
	if err != nil {
		return fmt.Errorf("storage: revoke token: %w", err)
	}
	return nil
}

// RotateRefreshToken retires a grant's refresh token as it is exchanged,
// together with the access tokens issued for the grant so far (not those
// the exchange issues next), in one statement. storage.ErrConflict when
// the refresh token was not active: it was never issued, or a concurrent
// exchange rotated it first, so that of two exchanges of one refresh token
// only one goes on to issue tokens. The revocation row with reason
// 'rotated' is the rotation log entry (oauth2_rotation_log).
func (s *Store) RotateRefreshToken(ctx context.Context, requestID, signature string) error {
	var rotated bool
	err := s.db.QueryRow(ctx, rotateSQL, Hash(signature), requestID).Scan(&rotated)
	if err != nil {
		return fmt.Errorf("storage: rotate refresh token: %w", err)
	}
	if !rotated {
		return storage.ErrConflict
	}
	return nil
}

// rotateSQL revokes the refresh token $1 of grant $2 unless it is revoked
// already, and then, only then, the grant's access tokens. A concurrent
// rotation of the same token waits on the first one's revocation row and,
// once that commits, finds it and rotates nothing.
const rotateSQL = `
	WITH rotated AS (
	  INSERT INTO oauth2_token_revocation (signature, reason)
	  SELECT t.signature, 'rotated' FROM oauth2_token t
	  WHERE t.signature = $1 AND t.request_id = $2 AND t.kind = 'refresh'
	  ON CONFLICT (signature) DO NOTHING
	  RETURNING signature
	), superseded AS (
	  INSERT INTO oauth2_token_revocation (signature, reason)
	  SELECT t.signature, 'superseded' FROM oauth2_token t
	  WHERE t.request_id = $2 AND t.kind = 'access' AND EXISTS (SELECT 1 FROM rotated)
	  ON CONFLICT (signature) DO NOTHING
	)
	SELECT EXISTS (SELECT 1 FROM rotated)`

// Hash is what the database keeps of a token's signature or a launch
// value: its SHA-256, in lower-case hex (migration 032 hashed the rows
// stored before with the same function in SQL).
func Hash(signature string) string {
	h := sha256.Sum256([]byte(signature))
	return hex.EncodeToString(h[:])
}
