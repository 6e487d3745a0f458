package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// floorResult is what PostgreSQL alone achieves with the same data: the
// physical floor the server's numbers are compared with.
type floorResult struct {
	Table     string        `json:"table"`
	Resources int           `json:"resources"`
	Seconds   float64       `json:"seconds"`
	Rate      float64       `json:"resources_per_second"`
	Warmup    float64       `json:"warmup_seconds"` // untimed
	Reads     []levelResult `json:"reads"`
	errs      errorLog
}

// floorBatch is the rows of one bundle: one COPY, one transaction.
type floorBatch [][]any

// floorBatches takes the resources of the same bodies that were posted, each
// under a fresh key, keeping the provider-first order of the server run: the
// timed COPY holds exactly the rows of the timed bundles. The floor is the
// plan's last user, so each timed body is released once its rows are taken
// (a million resources are about 2 GB of bodies, and as many again of rows).
func floorBatches(plan ingestPlan) (warmup, bundles []floorBatch, keys []string, err error) {
	conv := func(jobs []ingestJob, release bool) ([]floorBatch, error) {
		var out []floorBatch
		for i, job := range jobs {
			b, err := resourceRows(job.body)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", job.name, err)
			}
			for _, row := range b {
				keys = append(keys, row[0].(string))
			}
			out = append(out, b)
			if release {
				jobs[i].body = nil
			}
		}
		return out, nil
	}
	if warmup, err = conv(append(plan.providers[:len(plan.providers):len(plan.providers)], plan.warmup...), false); err == nil {
		bundles, err = conv(plan.bundles, true)
	}
	return warmup, bundles, keys, err
}

// resourceRows returns (id, resource) rows for the entries of one bundle.
// The key is a new UUID rather than the resource's id: provider bundles are
// unchanged and POST entries may have no id at all.
func resourceRows(body []byte) (floorBatch, error) {
	var b struct {
		Entry []struct {
			Resource json.RawMessage `json:"resource"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(body, &b); err != nil {
		return nil, err
	}
	rows := make(floorBatch, 0, len(b.Entry))
	for _, e := range b.Entry {
		if len(e.Resource) > 0 {
			rows = append(rows, []any{newUUID(), e.Resource})
		}
	}
	return rows, nil
}

// floorConfig is the part of the run configuration the floor needs.
type floorConfig struct {
	databaseURL string
	workers     int
	levels      []int
	reads       int
	warmup      int
}

// runFloor loads the same resources into a scratch table with COPY and
// measures primary-key reads; the table is dropped even after a timeout.
func runFloor(ctx context.Context, cfg floorConfig, plan ingestPlan) (*floorResult, error) {
	warmup, bundles, keys, err := floorBatches(plan)
	if err != nil {
		return nil, err
	}
	pool, err := openPool(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer pool.Close()
	res := &floorResult{Table: "fhirbench_floor_" + strings.ReplaceAll(newUUID()[:13], "-", "")}
	table := pgx.Identifier{res.Table}
	if _, err := pool.Exec(ctx, "CREATE TABLE "+table.Sanitize()+" (id text PRIMARY KEY, resource jsonb NOT NULL)"); err != nil {
		return nil, fmt.Errorf("create %s: %w", res.Table, err)
	}
	defer dropTable(ctx, pool, table)
	res.copyAll(ctx, pool, table, warmup, bundles, cfg.workers)
	if len(keys) == 0 {
		res.errs.add("no resources to read")
	}
	if res.errs.count == 0 && len(cfg.levels) > 0 {
		res.Reads = measureLevels(ctx, cfg.levels, cfg.reads, cfg.warmup, floorRead(pool, table, keys), nil, "")
	}
	return res, nil
}

// openPool sizes the pool for the largest concurrency level, so that reads
// never wait for a connection the server would not have waited for either.
func openPool(ctx context.Context, cfg floorConfig) (*pgxpool.Pool, error) {
	pc, err := pgxpool.ParseConfig(cfg.databaseURL)
	if err != nil {
		return nil, fmt.Errorf("database URL: %w", err)
	}
	pc.MaxConns = int32(max(64, cfg.workers, maxOf(cfg.levels)))
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, err
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("database: %w", err)
	}
	return pool, nil
}

// dropTable runs on a context of its own: the run's may have timed out.
func dropTable(ctx context.Context, pool *pgxpool.Pool, table pgx.Identifier) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	_, _ = pool.Exec(ctx, "DROP TABLE IF EXISTS "+table.Sanitize())
}

// copyAll mirrors ingestAll: the untimed warm-up (providers and warm-up
// copies), then the timed bundles in workers.
func (r *floorResult) copyAll(ctx context.Context, pool *pgxpool.Pool, table pgx.Identifier, warmup, bundles []floorBatch, workers int) {
	var mu sync.Mutex
	timed := false
	copyOne := func(rows floorBatch) {
		n, err := copyBatch(ctx, pool, table, rows)
		mu.Lock()
		defer mu.Unlock()
		if timed {
			r.Resources += int(n)
		}
		if err != nil {
			r.errs.add("COPY: " + err.Error())
		}
	}
	warm := time.Now()
	forEach(ctx, warmup, workers, copyOne)
	r.Warmup = time.Since(warm).Seconds()
	timed = true
	start := time.Now()
	forEach(ctx, bundles, workers, copyOne)
	r.Seconds = time.Since(start).Seconds()
	r.Rate = perSecond(r.Resources, r.Seconds)
}

// copyBatch COPYs one bundle's rows in its own transaction, as a server
// commits one transaction bundle at a time.
func copyBatch(ctx context.Context, pool *pgxpool.Pool, table pgx.Identifier, rows floorBatch) (int64, error) {
	var n int64
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		var err error
		n, err = tx.CopyFrom(ctx, table, []string{"id", "resource"}, pgx.CopyFromRows(rows))
		return err
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// floorRead returns an op doing one bare primary-key lookup of a random key.
func floorRead(pool *pgxpool.Pool, table pgx.Identifier, keys []string) op {
	q := "SELECT resource FROM " + table.Sanitize() + " WHERE id = $1"
	return func(ctx context.Context, rng *rand.Rand) error {
		var doc []byte
		return pool.QueryRow(ctx, q, keys[rng.IntN(len(keys))]).Scan(&doc)
	}
}

func maxOf(xs []int) int {
	m := 0
	for _, x := range xs {
		m = max(m, x)
	}
	return m
}
