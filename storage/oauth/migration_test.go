package oauth_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirserver/fhirserver/storage"
	"github.com/fhirserver/fhirserver/storage/oauth"
	"github.com/fhirserver/fhirserver/storage/storagetest"
)

// Migration 032 hashes the signatures stored before it as the code hashes
// them since: a token issued before the upgrade is still found by its
// signature, revoked if it was, and the append-only guards hold again.
func TestMigrationHashesStoredSignatures(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := storagetest.AtMigration(t, 31)
	conn, err := pgx.Connect(ctx, url)
	require.NoError(t, err)
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, `
		INSERT INTO oauth2_client (id, public) VALUES ('app', true);
		INSERT INTO oauth2_token (signature, kind, request_id, client_id, request, expires_at) VALUES
		  ('old-access', 'access', 'g1', 'app', '{}', now() + interval '1 hour'),
		  ('old-refresh', 'refresh', 'g1', 'app', '{}', now() + interval '1 hour');
		INSERT INTO oauth2_token_revocation (signature, reason) VALUES ('old-access', 'superseded')`)
	require.NoError(t, err)
	conn.Close(ctx)
	require.NoError(t, storage.Migrate(ctx, url), "032 and on to the newest")

	db, err := storage.Open(ctx, url, storage.Options{}, nil)
	require.NoError(t, err)
	defer db.Close()
	s := oauth.New(db)
	tok, _, revoked, err := s.Token(ctx, "refresh", "old-refresh")
	require.NoError(t, err)
	assert.Equal(t, "g1", tok.RequestID)
	assert.False(t, revoked)
	_, _, revoked, err = s.Token(ctx, "access", "old-access")
	require.NoError(t, err)
	assert.True(t, revoked, "the revocation follows its token")
	require.NoError(t, s.RotateRefreshToken(ctx, "g1", "old-refresh"))

	check, err := pgx.Connect(ctx, url)
	require.NoError(t, err)
	defer check.Close(ctx)
	var raw int
	require.NoError(t, check.QueryRow(ctx, `SELECT count(*) FROM oauth2_token WHERE signature LIKE 'old-%'`).Scan(&raw))
	assert.Zero(t, raw, "no signature is left as it was")
	for _, table := range []string{"oauth2_token", "oauth2_token_revocation"} {
		_, err = check.Exec(ctx, `UPDATE `+table+` SET signature = signature`)
		assert.ErrorContains(t, err, "append-only", table)
	}
}
