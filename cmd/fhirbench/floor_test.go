package main

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testDatabaseURL returns DATABASE_URL, else the local trust-auth server if
// it answers, else skips.
func testDatabaseURL(t *testing.T) string {
	t.Helper()
	dbURL := os.Getenv("DATABASE_URL")
	if dbURL == "" {
		dbURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Skipf("no PostgreSQL at %s: %v", dbURL, err)
	}
	_ = conn.Close(ctx)
	return dbURL
}

func TestFloorAgainstPostgres(t *testing.T) {
	dbURL := testDatabaseURL(t)
	fx, err := loadFixtures([]string{writeFixtures(t)}, &strings.Builder{})
	require.NoError(t, err)
	plan, err := prepareIngest(fx, 1, 3)
	require.NoError(t, err)

	ctx := context.Background()
	cfg := floorConfig{databaseURL: dbURL, workers: 4, levels: []int{1, 8}, reads: 100, warmup: 10}
	res, err := runFloor(ctx, cfg, plan)
	require.NoError(t, err)
	assert.Zero(t, res.errs.count, res.errs.first)
	assert.Equal(t, 3*6, res.Resources, "the provider and the warm-up copy are not timed")
	assert.Positive(t, res.Rate)
	require.Len(t, res.Reads, 2)
	for i, l := range res.Reads {
		assert.Equal(t, cfg.levels[i], l.Concurrency)
		assert.Equal(t, 100, l.Requests)
		assert.Zero(t, l.Errors, l.errs.first)
		assert.Positive(t, l.P50ms)
		assert.GreaterOrEqual(t, l.P99ms, l.P50ms)
	}

	conn, err := pgx.Connect(ctx, dbURL)
	require.NoError(t, err)
	defer conn.Close(ctx)
	var exists bool
	require.NoError(t, conn.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", res.Table).Scan(&exists))
	assert.False(t, exists, "table %s was not dropped", res.Table)
}

// TestRunWithFloor is the whole tool: fake server, then PostgreSQL, ratios.
func TestRunWithFloor(t *testing.T) {
	dbURL := testDatabaseURL(t)
	srv, _ := newFakeFHIR(t, fakeOptions{clientID: "bench client", secret: "s", expiresIn: 300})
	cfg := testConfig(t, srv.URL+"/fhir", "s")
	cfg.databaseURL = dbURL
	var out, log strings.Builder
	require.NoError(t, run(context.Background(), cfg, &out, &log))
	t.Logf("stdout:\n%s", out.String())
	assert.Contains(t, out.String(), "postgres floor")
	assert.Contains(t, out.String(), "ingest floor/server resources/s")

	b, err := os.ReadFile(cfg.jsonOut)
	require.NoError(t, err)
	var rep struct {
		Floor  floorResult  `json:"floor"`
		Ratios ratioSummary `json:"ratios"`
	}
	require.NoError(t, json.Unmarshal(b, &rep))
	assert.Equal(t, cfg.copies*6, rep.Floor.Resources)
	assert.Positive(t, rep.Ratios.IngestFloorOverServer)
	require.Len(t, rep.Ratios.ReadP99ServerOverFloor, len(cfg.levels))
	assert.Equal(t, 3.0, rep.Ratios.IngestGoal)
}

// settle vacuums and checkpoints before the searches (the test database's
// role is a superuser, as the embedded default's is).
func TestSettle(t *testing.T) {
	dbURL := testDatabaseURL(t)
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, dbURL)
	require.NoError(t, err)
	defer pool.Close()
	var before int64
	require.NoError(t, pool.QueryRow(ctx, `SELECT checkpoints_req FROM pg_stat_bgwriter`).Scan(&before))
	var log strings.Builder
	require.NoError(t, settle(ctx, pool, &log))
	assert.Equal(t, "settle: VACUUM (ANALYZE), CHECKPOINT\n", log.String())
	// The checkpointer publishes its counts after the checkpoint, not
	// before CHECKPOINT returns.
	assert.Eventually(t, func() bool {
		var after int64
		err := pool.QueryRow(ctx, `SELECT checkpoints_req FROM pg_stat_bgwriter`).Scan(&after)
		return err == nil && after > before
	}, 15*time.Second, 100*time.Millisecond, "a checkpoint was asked for")
}
