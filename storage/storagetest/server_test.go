package storagetest

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Without DATABASE_URL and without PostgreSQL binaries, tests fall back to
// testcontainers-go. Where a Docker engine answers, that gives a working
// server; where none does (CI here), the error names every way out.
func TestFallsBackToAContainer(t *testing.T) {
	t.Setenv("DATABASE_URL", "")
	t.Setenv("FHIR_PG_BIN", t.TempDir())
	t.Setenv("FHIR_TEST_DATA_DIR", t.TempDir())
	saved := cleanup
	cleanup = nil
	defer func() {
		for _, f := range cleanup {
			f()
		}
		cleanup = saved
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	u, err := server(ctx)
	if err != nil {
		t.Log(err)
		assert.Contains(t, err.Error(), "DATABASE_URL")
		assert.Contains(t, err.Error(), "apt-get install postgresql")
		assert.Contains(t, err.Error(), "Docker")
		return
	}
	conn, err := pgx.Connect(ctx, u)
	require.NoError(t, err)
	defer conn.Close(ctx)
	var one int
	require.NoError(t, conn.QueryRow(ctx, "SELECT 1").Scan(&one))
	assert.Equal(t, 1, one)
}
