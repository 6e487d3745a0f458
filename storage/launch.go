package storage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// User is a person who signs in on the authorization pages.
type User struct {
	Username     string
	PasswordHash string
	Role         string
	FHIRUser     string // Practitioner/ID, Patient/ID, ...; empty when none
}

// PutUser registers a user; ErrConflict when the username is taken.
func (s *Store) PutUser(ctx context.Context, u User) error {
	var fhirUser *string
	if u.FHIRUser != "" {
		fhirUser = &u.FHIRUser
	}
	_, err := s.pool.Exec(ctx, adminAudited(`INSERT INTO app_user (username, password_hash, role, fhir_user) VALUES ($1, $2, $3, $4)
		RETURNING 'user:' || username || ' role:' || role AS target`, "user.create", 4),
		u.Username, u.PasswordHash, u.Role, fhirUser, actorOf(ctx))
	if isUniqueViolation(err) {
		return ErrConflict
	}
	if err != nil {
		return fmt.Errorf("storage: put user: %w", err)
	}
	return nil
}

func isUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == pgerrcode.UniqueViolation
}

// UserForLogin reads a user together with when the lockouts in force on
// lockKeys end (zero when none), in one query whether or not the user
// exists, so that the answer takes as long either way. ErrNotFound for an
// unknown name, with the lockout still read.
func (s *Store) UserForLogin(ctx context.Context, username string, lockKeys []string) (User, time.Time, error) {
	u := User{Username: username}
	var hash, role, fhirUser *string
	var until *time.Time
	err := s.pool.QueryRow(ctx, `
		SELECT `+authLockedUntil("$2")+`, u.password_hash, u.role, u.fhir_user
		FROM (SELECT $1::text AS name) q LEFT JOIN app_user u ON u.username = q.name`, username, lockKeys).Scan(&until, &hash, &role, &fhirUser)
	if err != nil {
		return u, time.Time{}, fmt.Errorf("storage: user: %w", err)
	}
	if hash == nil {
		return u, orZero(until), ErrNotFound
	}
	u.PasswordHash, u.Role = *hash, *role
	if fhirUser != nil {
		u.FHIRUser = *fhirUser
	}
	return u, orZero(until), nil
}

// User reads a user; ErrNotFound for an unknown name.
func (s *Store) User(ctx context.Context, username string) (User, error) {
	u, _, err := s.UserForLogin(ctx, username, nil)
	return u, err
}

// LoginAttempt records a sign-in attempt. A success also forgets the
// failures counted against resetKey (the user's), unless they locked it:
// the lockout counts failures since the last success.
func (s *Store) LoginAttempt(ctx context.Context, username string, success bool, resetKey string) error {
	_, err := s.pool.Exec(ctx, `
		WITH reset AS (
		  UPDATE auth_limit SET failures = '{}' WHERE $2 AND key = $3 AND NOT coalesce(locked_until > now(), false)
		)
		INSERT INTO login_attempt (username, success) VALUES ($1, $2)`, username, success, resetKey)
	if err != nil {
		return fmt.Errorf("storage: login attempt: %w", err)
	}
	return nil
}

// PutLaunch stores an EHR launch context under the hash of its launch value.
func (s *Store) PutLaunch(ctx context.Context, signature string, context json.RawMessage, createdBy string, expires time.Time) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO launch_context (signature, context, created_by, expires_at) VALUES ($1, $2, $3, $4)`,
		signature, context, createdBy, expires)
	if err != nil {
		return fmt.Errorf("storage: put launch: %w", err)
	}
	return nil
}

// Launch reads a launch context that is neither used nor expired;
// ErrNotFound otherwise.
func (s *Store) Launch(ctx context.Context, signature string) (json.RawMessage, error) {
	var c json.RawMessage
	err := s.pool.QueryRow(ctx, `
		SELECT l.context FROM launch_context l
		WHERE l.signature = $1 AND l.expires_at > now()
		  AND NOT EXISTS (SELECT 1 FROM launch_use u WHERE u.signature = l.signature)`, signature).Scan(&c)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("storage: launch: %w", err)
	}
	return c, nil
}

// UseLaunch marks a launch used; ErrConflict when it already was.
func (s *Store) UseLaunch(ctx context.Context, signature string) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO launch_use (signature) VALUES ($1)`, signature)
	if isUniqueViolation(err) {
		return ErrConflict
	}
	if err != nil {
		return fmt.Errorf("storage: use launch: %w", err)
	}
	return nil
}

// SigningKey is a key that signs id_tokens.
type SigningKey struct {
	KID        string
	Alg        string
	PrivateKey []byte // PKCS #8, DER
	Created    time.Time
}

// SigningKeys returns every signing key, newest first.
func (s *Store) SigningKeys(ctx context.Context) ([]SigningKey, error) {
	rows, err := s.pool.Query(ctx, `SELECT kid, alg, private_key, created_at FROM signing_key ORDER BY created_at DESC, kid`)
	if err != nil {
		return nil, fmt.Errorf("storage: signing keys: %w", err)
	}
	keys, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (SigningKey, error) {
		var k SigningKey
		return k, r.Scan(&k.KID, &k.Alg, &k.PrivateKey, &k.Created)
	})
	if err != nil {
		return nil, fmt.Errorf("storage: signing keys: %w", err)
	}
	return keys, nil
}

// PutSigningKey adds a signing key, which becomes the one that signs.
func (s *Store) PutSigningKey(ctx context.Context, k SigningKey) error {
	_, err := s.pool.Exec(ctx, adminAudited(`INSERT INTO signing_key (kid, alg, private_key) VALUES ($1, $2, $3) RETURNING 'kid:' || kid AS target`,
		"signing-key.create", 3), k.KID, k.Alg, k.PrivateKey, actorOf(ctx))
	if err != nil {
		return fmt.Errorf("storage: put signing key: %w", err)
	}
	return nil
}

// RevokeToken revokes one token by signature, for a reason: rotated,
// superseded or used. Revoking it again changes nothing.
func (s *Store) RevokeToken(ctx context.Context, signature, reason string) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO oauth2_token_revocation (signature, reason) VALUES ($1, $2) ON CONFLICT (signature) DO NOTHING`,
		signature, reason)
	if err != nil {
		return fmt.Errorf("storage: revoke token: %w", err)
	}
	return nil
}

// SupersedeTokens revokes every token of a kind issued for a grant so far,
// one by one: a rotation retires the grant's access tokens, not the ones
// issued after it.
func (s *Store) SupersedeTokens(ctx context.Context, kind, requestID string) error {
	_, err := s.pool.Exec(ctx, `
		INSERT INTO oauth2_token_revocation (signature, reason)
		SELECT signature, 'superseded' FROM oauth2_token WHERE request_id = $1 AND kind = $2
		ON CONFLICT (signature) DO NOTHING`, requestID, kind)
	if err != nil {
		return fmt.Errorf("storage: supersede tokens: %w", err)
	}
	return nil
}

// UseJTI records a client assertion's jti until it expires; ErrConflict
// when it was seen before.
func (s *Store) UseJTI(ctx context.Context, jti string, expires time.Time) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO oauth2_jti (jti, expires_at) VALUES ($1, $2)`, jti, expires)
	if isUniqueViolation(err) {
		return ErrConflict
	}
	if err != nil {
		return fmt.Errorf("storage: jti: %w", err)
	}
	return nil
}

// JTIKnown reports whether a client assertion's jti was seen.
func (s *Store) JTIKnown(ctx context.Context, jti string) (bool, error) {
	var known bool
	if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM oauth2_jti WHERE jti = $1)`, jti).Scan(&known); err != nil {
		return false, fmt.Errorf("storage: jti: %w", err)
	}
	return known, nil
}

// LaunchableClients returns the clients registered with a launch URL, by id.
func (s *Store) LaunchableClients(ctx context.Context) ([]OAuthClient, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+clientColumns+` FROM oauth2_client c WHERE c.launch_url IS NOT NULL ORDER BY c.id`)
	if err != nil {
		return nil, fmt.Errorf("storage: launchable clients: %w", err)
	}
	clients, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (OAuthClient, error) {
		var c clientRow
		err := r.Scan(c.dest()...)
		return c.client(), err
	})
	if err != nil {
		return nil, fmt.Errorf("storage: launchable clients: %w", err)
	}
	return clients, nil
}
