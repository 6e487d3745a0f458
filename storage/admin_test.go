package storage_test

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

// Administrative changes are recorded with who made them, in the same
// statement: a refused change leaves no record, a made one always does.
func TestAdminActionsAreAudited(t *testing.T) {
	t.Parallel()
	s, owner := storagetest.Open(t)
	ctx := storage.WithActor(context.Background(), "cli:alice")
	o := oauth.New(s)
	require.NoError(t, o.PutClient(ctx, oauth.Client{ID: "c1", SecretHash: []byte("hash"), Scopes: []string{"system/*.rs"}}))
	require.ErrorIs(t, o.PutClient(ctx, oauth.Client{ID: "c1", SecretHash: []byte("hash")}), storage.ErrConflict)
	require.NoError(t, o.PutUser(storage.WithActor(context.Background(), "user:admin"), oauth.User{Username: "doc", PasswordHash: "x", Role: "clinician"}))
	require.NoError(t, o.PutSigningKey(ctx, oauth.SigningKey{KID: "k1", Alg: "RS256", PrivateKey: []byte("der")}))
	require.NoError(t, s.SetRolePermissions(ctx, "nurse", "Observation", "rs"))
	require.Error(t, s.SetRolePermissions(ctx, "nurse", "Observation", "rx"))
	perms, err := s.RolePermissions(ctx, "nurse")
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"Observation": "rs"}, perms)
	require.NoError(t, s.SetRolePermissions(ctx, "nurse", "Observation", "s"))
	perms, err = s.RolePermissions(ctx, "nurse")
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"Observation": "s"}, perms, "exactly what was set")

	conn, err := pgx.Connect(context.Background(), owner)
	require.NoError(t, err)
	defer conn.Close(context.Background())
	rows, err := conn.Query(context.Background(), `SELECT actor, action, target FROM admin_audit ORDER BY id`)
	require.NoError(t, err)
	got, err := pgx.CollectRows(rows, pgx.RowToStructByPos[struct{ Actor, Action, Target string }])
	require.NoError(t, err)
	assert.Equal(t, []struct{ Actor, Action, Target string }{
		{"cli:alice", "client.create", "client:c1"},
		{"user:admin", "user.create", "user:doc role:clinician"},
		{"cli:alice", "signing-key.create", "kid:k1"},
		{"cli:alice", "role.permissions", "role:nurse"},
		{"cli:alice", "role.permissions", "role:nurse"},
	}, got)
}

// The tables that keep history or evidence are append-only in the
// database itself: triggers refuse UPDATE, DELETE and TRUNCATE to anyone,
// and the application role holds no privilege to try.
func TestEvidenceTablesAreImmutableInTheDatabase(t *testing.T) {
	t.Parallel()
	_, owner := storagetest.Open(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, owner)
	require.NoError(t, err)
	defer conn.Close(ctx)
	for _, table := range []string{"resource_version", "inbound_log", "audit_event", "audit_link", "audit_key", "admin_audit",
		"oauth2_token", "oauth2_revocation", "oauth2_token_revocation", "oauth2_client", "app_user", "login_attempt",
		"launch_context", "launch_use", "signing_key", "oauth2_jti", "role_permission_change",
		"slot_unit", "slot_release", "slot_booking", "availability", "availability_override", "appointment_event",
		"noshow_policy", "noshow_action", "waitlist_entry", "waitlist_event",
		"telehealth_event", "telehealth_room", "telehealth_token", "telehealth_quality", "telehealth_token_use"} {
		t.Run(table, func(t *testing.T) {
			var rowTrigger, truncTrigger, update, del, trunc bool
			require.NoError(t, conn.QueryRow(ctx, `
				SELECT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = $1::regclass AND tgname = $1 || '_append_only' AND tgenabled = 'O'),
				       EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = $1::regclass AND tgname = $1 || '_no_truncate' AND tgenabled = 'O'),
				       has_table_privilege('fhir_app', $1, 'UPDATE'), has_table_privilege('fhir_app', $1, 'DELETE'),
				       has_table_privilege('fhir_app', $1, 'TRUNCATE')`, table).Scan(&rowTrigger, &truncTrigger, &update, &del, &trunc))
			assert.True(t, rowTrigger, "a trigger refuses UPDATE and DELETE")
			assert.True(t, truncTrigger, "a trigger refuses TRUNCATE")
			assert.False(t, update || del || trunc, "the application role may not try")
		})
	}
}
