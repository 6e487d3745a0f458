package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/jackc/pgx/v5/pgxpool"
)

// run executes the phases and always prints what was measured, even when a
// phase failed or the timeout struck, then reports every failure as an error.
func run(ctx context.Context, cfg config, stdout, logw io.Writer) error {
	rep := newReport(cfg)
	var mem *rssSampler
	if cfg.serverPID > 0 {
		var err error
		if mem, err = startRSS(ctx, cfg.serverPID, cfg.rssInterval); err != nil {
			return err
		}
	}
	var err error
	if cfg.scale.on() {
		err = scalePhases(ctx, cfg, rep, mem, logw)
	} else {
		err = phases(ctx, cfg, rep, mem, logw)
	}
	rep.ServerMemory = mem.finish()
	rep.computeRatios()
	rep.computeMedplum()
	if n := rep.collectErrors(); n > 0 {
		err = errors.Join(err, fmt.Errorf("%d requests or bundles failed (listed above)", n))
	}
	rep.writeTable(stdout)
	if cfg.jsonOut != "" {
		err = errors.Join(err, rep.writeJSON(cfg.jsonOut))
	}
	return err
}

// phases runs: fixtures, token, server ingest, server reads, floor,
// searches; with --search-only, the searches alone; with --ingest-only, the
// ingest and the floor's COPY of the same rows.
func phases(ctx context.Context, cfg config, rep *report, mem *rssSampler, logw io.Writer) error {
	if cfg.searchOnly {
		client := newHTTPClient(cfg.requestTimeout, max(64, maxOf(cfg.searchLevels)))
		tokens, err := newTokenSource(ctx, client, cfg.base, cfg.creds)
		if err != nil {
			return err
		}
		return searchPhase(ctx, cfg, &fhirClient{base: cfg.base, http: client, tokens: tokens}, rep, mem, logw)
	}
	fixtures, err := loadFixtures(cfg.fixtures, logw)
	if err != nil {
		return err
	}
	plan, err := prepareIngest(fixtures, cfg.warmCopies, cfg.copies)
	if err != nil {
		return err
	}
	rep.ProviderBundles, rep.Bundles = len(plan.providers), len(plan.bundles)
	client := newHTTPClient(cfg.requestTimeout, max(64, maxOf(cfg.levels), cfg.ingestConcurrency))
	tokens, err := newTokenSource(ctx, client, cfg.base, cfg.creds)
	if err != nil {
		return err
	}
	fc := &fhirClient{base: cfg.base, http: client, tokens: tokens}
	fmt.Fprintf(logw, "ingest: %d provider bundles and %d warm-up bundles, then %d timed bundles with %d workers\n",
		len(plan.providers), len(plan.warmup), len(plan.bundles), cfg.ingestConcurrency)
	// With --ingest-only and a database, the database's next transaction id
	// before the timed bundles tells their rows from the warm-up's, for
	// the schema floor.
	var mark int64
	var markErr error
	var beforeTimed func()
	if cfg.ingestOnly && cfg.databaseURL != "" {
		beforeTimed = func() { mark, markErr = xactMark(ctx, cfg.databaseURL) }
	}
	rep.Ingest = ingestAll(ctx, fc, plan, cfg.ingestConcurrency, mem, beforeTimed)
	rep.TokenFetches = tokens.fetches.Load()
	if cfg.ingestOnly {
		if cfg.databaseURL != "" {
			fmt.Fprintln(logw, "floor: COPY of the same rows in PostgreSQL")
			rep.Floor, err = runFloor(ctx, floorConfig{databaseURL: cfg.databaseURL, workers: cfg.ingestConcurrency}, plan)
			if err != nil {
				return fmt.Errorf("floor: %w", err)
			}
			if markErr != nil {
				return fmt.Errorf("schema floor: %w", markErr)
			}
			fmt.Fprintln(logw, "schema floor: PostgreSQL alone writing the timed ingest's rows into copies of the server's tables")
			if rep.SchemaFloor, err = runSchemaFloor(ctx, cfg.databaseURL, mark, cfg.ingestConcurrency); err != nil {
				return err
			}
		}
		return ctx.Err()
	}
	if err := serverReads(ctx, cfg, fc, rep, mem, logw); err != nil {
		return err
	}
	rep.TokenFetches = tokens.fetches.Load()
	if err := noopReads(ctx, cfg, plan, rep, logw); err != nil {
		return err
	}
	if cfg.databaseURL != "" {
		fmt.Fprintln(logw, "floor: COPY and primary-key reads in PostgreSQL")
		rep.Floor, err = runFloor(ctx, floorConfig{cfg.databaseURL, cfg.ingestConcurrency, cfg.levels, cfg.reads, cfg.warmup}, plan)
		if err != nil {
			return fmt.Errorf("floor: %w", err)
		}
	}
	if cfg.search {
		if err := searchPhase(ctx, cfg, fc, rep, mem, logw); err != nil {
			return fmt.Errorf("search: %w", err)
		}
	}
	return ctx.Err()
}

// searchPhase samples the ingested data through the API and measures the
// searches, with their hand-written SQL when there is a database URL.
func searchPhase(ctx context.Context, cfg config, fc *fhirClient, rep *report, mem *rssSampler, logw io.Writer) error {
	s, err := sampleData(ctx, fc)
	if err != nil {
		return err
	}
	var pool *pgxpool.Pool
	if cfg.databaseURL != "" {
		if pool, err = openPool(ctx, floorConfig{databaseURL: cfg.databaseURL, levels: cfg.searchLevels}); err != nil {
			return err
		}
		defer pool.Close()
		// Statistics and visibility maps, as a running server's autovacuum
		// keeps them (it vacuums append-only tables after enough inserts):
		// without the maps every index-only scan reads the table too.
		if err := settle(ctx, pool, logw); err != nil {
			return err
		}
		if rep.Sizes, err = tableSizes(ctx, pool); err != nil {
			return err
		}
	}
	fmt.Fprintf(logw, "search: %d searches of each kind per level, levels %v\n", cfg.searchReads, cfg.searchLevels)
	rep.Searches = runSearches(ctx, fc, pool, nil, s, cfg, searchWarmup(cfg), mem, "")
	return nil
}

// settle vacuums and analyzes the database, as a running server's
// autovacuum keeps it, then writes out what the ingest (and the floor's
// COPY) left dirty, so that the searches measured next do not share the
// machine with the checkpoint that would come due during them. A role
// that may not CHECKPOINT only vacuums.
func settle(ctx context.Context, pool *pgxpool.Pool, logw io.Writer) error {
	fmt.Fprintln(logw, "settle: VACUUM (ANALYZE), CHECKPOINT")
	if _, err := pool.Exec(ctx, "VACUUM (ANALYZE)"); err != nil {
		return err
	}
	if _, err := pool.Exec(ctx, "CHECKPOINT"); err != nil {
		fmt.Fprintf(logw, "settle: no CHECKPOINT: %v\n", err)
	}
	return nil
}

// noopReads measures the no-op HTTP server, the cost of the hop alone.
func noopReads(ctx context.Context, cfg config, plan ingestPlan, rep *report, logw io.Writer) error {
	size, err := meanResourceSize(plan)
	if err != nil {
		return fmt.Errorf("no-op server: %w", err)
	}
	fmt.Fprintf(logw, "http no-op: GETs of a %d-byte body from a separate process\n", size)
	rep.HTTPNoop, err = runNoop(ctx, cfg, size)
	return err
}

// serverReads measures GETs of the locations the ingest recorded.
func serverReads(ctx context.Context, cfg config, fc *fhirClient, rep *report, mem *rssSampler, logw io.Writer) error {
	locs := rep.Ingest.locations
	if len(locs) == 0 {
		return errors.New("no resource locations were returned by the ingest; nothing to read")
	}
	fmt.Fprintf(logw, "read: %d GETs per level over %d resources, levels %v\n", cfg.reads, len(locs), cfg.levels)
	rep.Reads = measureLevels(ctx, cfg.levels, cfg.reads, cfg.warmup, serverRead(fc, locs), mem, "read")
	return nil
}
