package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/fhirserver/fhirserver/storage"
)

// Store is the authorization server's state in the server's database.
type Store struct{ db storage.Querier }

// New returns the OAuth state kept in db.
func New(db *storage.Store) *Store { return &Store{db: db.Querier()} }

// Secret returns the authorization server's HMAC key, storing the one
// fresh() makes if there is none yet. Concurrent first starts agree on one.
func (s *Store) Secret(ctx context.Context, fresh func() ([]byte, error)) ([]byte, error) {
	var secret []byte
	err := s.db.QueryRow(ctx, `SELECT secret FROM oauth2_secret WHERE id = 1`).Scan(&secret)
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
	err = s.db.QueryRow(ctx, `
		WITH ins AS (INSERT INTO oauth2_secret (id, secret) VALUES (1, $1) ON CONFLICT (id) DO NOTHING RETURNING secret)
		SELECT secret FROM ins UNION ALL SELECT secret FROM oauth2_secret WHERE id = 1 LIMIT 1`, candidate).Scan(&secret)
	if err != nil {
		return nil, fmt.Errorf("storage: oauth2 secret: %w", err)
	}
	return secret, nil
}

// Client is a registered OAuth2 client as stored.
type Client struct {
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

// PutClient registers a client; storage.ErrConflict when the id is taken.
func (s *Store) PutClient(ctx context.Context, c Client) error {
	var hash *string
	if c.SecretHash != nil {
		h := string(c.SecretHash)
		hash = &h
	}
	var jwks any
	if len(c.JWKS) > 0 {
		jwks = c.JWKS
	}
	_, err := s.db.Exec(ctx, storage.AdminAudited(`
		INSERT INTO oauth2_client (id, secret_hash, public, redirect_uris, grant_types, response_types, scopes, jwks, launch_url, jwks_uri, resource_server)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, nullif($9, ''), nullif($10, ''), $11) RETURNING 'client:' || id AS target`, "client.create", 11),
		c.ID, hash, c.Public, nonNil(c.RedirectURIs), nonNil(c.GrantTypes), nonNil(c.ResponseTypes), nonNil(c.Scopes), jwks, c.LaunchURL, c.JWKSURI,
		c.ResourceServer, storage.Actor(ctx))
	if storage.IsUniqueViolation(err) {
		return storage.ErrConflict
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

// Client reads a registered client; storage.ErrNotFound when there is none.
func (s *Store) Client(ctx context.Context, id string) (Client, error) {
	var r clientRow
	err := s.db.QueryRow(ctx, `SELECT `+clientColumns+` FROM oauth2_client c WHERE c.id = $1`, id).Scan(r.dest()...)
	if errors.Is(err, pgx.ErrNoRows) {
		return Client{ID: id}, storage.ErrNotFound
	}
	if err != nil {
		return Client{ID: id}, fmt.Errorf("storage: client: %w", err)
	}
	return r.client(), nil
}

// ClientForAuth reads a client that is authenticating together with when
// the lockouts in force on lockKeys end (zero when none): one round trip,
// so that checking the lockout costs a successful authentication nothing.
// storage.ErrNotFound when there is no such client, with the lockout still
// read.
func (s *Store) ClientForAuth(ctx context.Context, id string, lockKeys []string) (Client, time.Time, error) {
	var r clientRow
	var until *time.Time
	err := s.db.QueryRow(ctx, `SELECT `+clientColumns+`, `+authLockedUntil("$2")+` FROM oauth2_client c WHERE c.id = $1`, id, lockKeys).
		Scan(append(r.dest(), &until)...)
	if errors.Is(err, pgx.ErrNoRows) {
		locked, err := s.AuthLockedUntil(ctx, lockKeys)
		if err != nil {
			return Client{ID: id}, time.Time{}, err
		}
		return Client{ID: id}, locked, storage.ErrNotFound
	}
	if err != nil {
		return Client{ID: id}, time.Time{}, fmt.Errorf("storage: client: %w", err)
	}
	return r.client(), orZero(until), nil
}

// LaunchableClients returns the clients registered with a launch URL, by id.
func (s *Store) LaunchableClients(ctx context.Context) ([]Client, error) {
	rows, err := s.db.Query(ctx, `SELECT `+clientColumns+` FROM oauth2_client c WHERE c.launch_url IS NOT NULL ORDER BY c.id`)
	if err != nil {
		return nil, fmt.Errorf("storage: launchable clients: %w", err)
	}
	clients, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Client, error) {
		var c clientRow
		err := r.Scan(c.dest()...)
		return c.client(), err
	})
	if err != nil {
		return nil, fmt.Errorf("storage: launchable clients: %w", err)
	}
	return clients, nil
}

// clientColumns are the columns of oauth2_client, aliased c, that a
// clientRow scans.
const clientColumns = `c.id, c.secret_hash, c.public, c.redirect_uris, c.grant_types, c.response_types, c.scopes, c.jwks, coalesce(c.launch_url, ''), coalesce(c.jwks_uri, ''), c.resource_server`

type clientRow struct {
	c    Client
	hash *string // NULL for a public client
}

func (r *clientRow) dest() []any {
	return []any{&r.c.ID, &r.hash, &r.c.Public, &r.c.RedirectURIs, &r.c.GrantTypes, &r.c.ResponseTypes, &r.c.Scopes, &r.c.JWKS, &r.c.LaunchURL, &r.c.JWKSURI, &r.c.ResourceServer}
}

func (r *clientRow) client() Client {
	if r.hash != nil {
		r.c.SecretHash = []byte(*r.hash)
	}
	return r.c
}

// UseJTI records a client assertion's jti until it expires;
// storage.ErrConflict when it was seen before.
func (s *Store) UseJTI(ctx context.Context, jti string, expires time.Time) error {
	_, err := s.db.Exec(ctx, `INSERT INTO oauth2_jti (jti, expires_at) VALUES ($1, $2)`, jti, expires)
	if storage.IsUniqueViolation(err) {
		return storage.ErrConflict
	}
	if err != nil {
		return fmt.Errorf("storage: jti: %w", err)
	}
	return nil
}

// JTIKnown reports whether a client assertion's jti was seen.
func (s *Store) JTIKnown(ctx context.Context, jti string) (bool, error) {
	var known bool
	if err := s.db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM oauth2_jti WHERE jti = $1)`, jti).Scan(&known); err != nil {
		return false, fmt.Errorf("storage: jti: %w", err)
	}
	return known, nil
}
