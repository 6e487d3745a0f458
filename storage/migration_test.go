package storage_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirserver/fhirserver/storage"
	"github.com/fhirserver/fhirserver/storage/storagetest"
)

// Migrations 039 and 040 number the token rows written before them as the
// server numbers new ones (storage.ParamID, storage.SystemID), so that a
// search finds them by the new indexes, and leave the rows append-only.
func TestMigrationNumbersTokenRows(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := storagetest.AtMigration(t, 38)
	conn, err := pgx.Connect(ctx, url)
	require.NoError(t, err)
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, `INSERT INTO search_token (type, id, version, param, system, code, text, patient) VALUES
		('Observation', 'o1', 1, 'code', 'http://loinc.org', '8867-4', 'heart rate', 'p1'),
		('Observation', 'o1', 1, 'status', NULL, 'final', NULL, 'p1'),
		('Patient', 'p1', 1, 'identifier', 'urn:oid:1.2.3', 'mrn-1', NULL, 'p1')`)
	require.NoError(t, err)
	conn.Close(ctx)
	require.NoError(t, storage.Migrate(ctx, url))

	check, err := pgx.Connect(ctx, url)
	require.NoError(t, err)
	defer check.Close(ctx)
	for _, tt := range []struct {
		typ, param, code string
		system           *string
	}{
		{"Observation", "code", "8867-4", ptr("http://loinc.org")},
		{"Observation", "status", "final", nil},
		{"Patient", "identifier", "mrn-1", ptr("urn:oid:1.2.3")},
	} {
		sid := "sid IS NULL"
		args := []any{storage.ParamID(tt.typ, tt.param), tt.code}
		if tt.system != nil {
			sid = "sid = $3"
			args = append(args, storage.SystemID(*tt.system))
		}
		var n int
		require.NoError(t, check.QueryRow(ctx, `SELECT count(*) FROM search_token WHERE pid = $1 AND code = $2 AND `+sid, args...).Scan(&n))
		assert.Equal(t, 1, n, "%s %s", tt.typ, tt.param)
	}
	_, err = check.Exec(ctx, `UPDATE search_token SET code = code`)
	assert.ErrorContains(t, err, "append-only")
}
