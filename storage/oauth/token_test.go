package oauth_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirserver/fhirserver/storage"
	"github.com/fhirserver/fhirserver/storage/oauth"
	"github.com/fhirserver/fhirserver/storage/storagetest"
)

func openStore(t *testing.T) (*oauth.Store, *pgx.Conn) {
	t.Helper()
	db, owner := storagetest.Open(t)
	conn, err := pgx.Connect(context.Background(), owner)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close(context.Background()) })
	s := oauth.New(db)
	require.NoError(t, s.PutClient(context.Background(), oauth.Client{ID: "app", Public: true}))
	return s, conn
}

func token(sig, kind, grant string) oauth.Token {
	return oauth.Token{Signature: sig, Kind: kind, RequestID: grant, ClientID: "app", Request: []byte(`{}`), ExpiresAt: time.Now().Add(time.Hour)}
}

// The database holds a hash of each token signature and launch value, never
// the value a client presents: a reader of the database cannot replay a
// token, and presenting what is stored finds nothing.
func TestSignaturesAreStoredHashed(t *testing.T) {
	t.Parallel()
	s, conn := openStore(t)
	ctx := context.Background()
	const sig = "Xy7_signature-of-an-access-token"
	require.NoError(t, s.PutToken(ctx, token(sig, "access", "g1")))

	var stored string
	require.NoError(t, conn.QueryRow(ctx, `SELECT signature FROM oauth2_token WHERE request_id = 'g1'`).Scan(&stored))
	assert.NotEqual(t, sig, stored)
	assert.Equal(t, oauth.Hash(sig), stored)
	assert.Len(t, stored, 64)

	got, client, revoked, err := s.Token(ctx, "access", sig)
	require.NoError(t, err, "a lookup by the signature still finds the token")
	assert.Equal(t, "g1", got.RequestID)
	assert.Equal(t, sig, got.Signature)
	assert.Equal(t, "app", client.ID)
	assert.False(t, revoked)
	_, _, _, err = s.Token(ctx, "access", stored)
	assert.ErrorIs(t, err, storage.ErrNotFound, "what the database holds opens nothing")

	require.NoError(t, s.RevokeToken(ctx, sig, "used"))
	_, _, revoked, err = s.Token(ctx, "access", sig)
	require.NoError(t, err)
	assert.True(t, revoked)
	require.NoError(t, conn.QueryRow(ctx, `SELECT signature FROM oauth2_token_revocation`).Scan(&stored))
	assert.Equal(t, oauth.Hash(sig), stored)

	const launch = "launch-value-an-EHR-hands-out"
	require.NoError(t, s.PutLaunch(ctx, launch, json.RawMessage(`{"patient":"p1"}`), "user:doc", time.Now().Add(time.Minute)))
	require.NoError(t, conn.QueryRow(ctx, `SELECT signature FROM launch_context`).Scan(&stored))
	assert.Equal(t, oauth.Hash(launch), stored)
	lc, err := s.Launch(ctx, launch)
	require.NoError(t, err)
	assert.JSONEq(t, `{"patient":"p1"}`, string(lc))
	_, err = s.Launch(ctx, stored)
	assert.ErrorIs(t, err, storage.ErrNotFound)
	require.NoError(t, s.UseLaunch(ctx, launch))
	assert.ErrorIs(t, s.UseLaunch(ctx, launch), storage.ErrConflict)

	_, err = conn.Exec(ctx, `INSERT INTO oauth2_token (signature, kind, request_id, client_id, request, expires_at)
		VALUES ('not-a-hash', 'access', 'g2', 'app', '{}', now())`)
	assert.Error(t, err, "the table takes nothing but a hash")
}

// A rotation retires the refresh token and the grant's access tokens so
// far in one statement: of many concurrent exchanges of one refresh token
// exactly one rotates it, the rest are refused and retire nothing, and the
// tokens issued after the rotation stay valid.
func TestRotationIsOneStatement(t *testing.T) {
	t.Parallel()
	s, conn := openStore(t)
	ctx := context.Background()
	for _, tok := range []oauth.Token{token("refresh-1", "refresh", "g1"), token("access-1", "access", "g1"),
		token("access-0", "access", "g1"), token("access-other", "access", "g2")} {
		require.NoError(t, s.PutToken(ctx, tok))
	}
	const racers = 8
	var wg sync.WaitGroup
	errs := make([]error, racers)
	for i := range racers {
		wg.Go(func() { errs[i] = s.RotateRefreshToken(ctx, "g1", "refresh-1") })
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		if err == nil {
			won++
			continue
		}
		assert.ErrorIs(t, err, storage.ErrConflict)
	}
	assert.Equal(t, 1, won, "one exchange rotates; the others find the token rotated")
	require.NoError(t, s.PutToken(ctx, token("access-2", "access", "g1")))

	for sig, want := range map[string]bool{"refresh-1": true, "access-0": true, "access-1": true, "access-2": false, "access-other": false} {
		kind := "access"
		if sig == "refresh-1" {
			kind = "refresh"
		}
		_, _, revoked, err := s.Token(ctx, kind, sig)
		require.NoError(t, err)
		assert.Equal(t, want, revoked, sig)
	}
	var rotations int
	require.NoError(t, conn.QueryRow(ctx, `SELECT count(*) FROM oauth2_rotation_log WHERE request_id = 'g1'`).Scan(&rotations))
	assert.Equal(t, 1, rotations)

	// Nothing to rotate (an unknown token, or one of another grant):
	// refused, and the grant's access tokens stay as they are.
	require.NoError(t, s.PutToken(ctx, token("refresh-2", "refresh", "g2")))
	assert.ErrorIs(t, s.RotateRefreshToken(ctx, "g2", "unknown"), storage.ErrConflict)
	assert.ErrorIs(t, s.RotateRefreshToken(ctx, "g1", "refresh-2"), storage.ErrConflict)
	_, _, revoked, err := s.Token(ctx, "access", "access-other")
	require.NoError(t, err)
	assert.False(t, revoked)
	_, _, revoked, err = s.Token(ctx, "access", "access-2")
	require.NoError(t, err)
	assert.False(t, revoked)
}
