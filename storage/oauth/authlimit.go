package oauth

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"
)

// AuthFailure is one failed authentication: the keys it counts against
// ("client:ID", "user:NAME", "address:IP"), each with the number of
// failures within Window that locks it for Window.
type AuthFailure struct {
	Keys    []string
	Limits  []int
	Window  time.Duration
	Address string // recorded with a lockout it causes
}

// RecordAuthFailure counts a failure against its keys and returns the keys
// it locked, each recorded in the admin audit in the same statement. A key
// already locked is left as it is, so that failures while locked do not
// lengthen the lockout. Rows are locked in key order: concurrent failures
// over the same keys never deadlock.
func (s *Store) RecordAuthFailure(ctx context.Context, f AuthFailure) ([]string, error) {
	keys, limits := sortedLimits(f.Keys, f.Limits)
	rows, err := s.db.Query(ctx, `
		WITH hit AS (
		  INSERT INTO auth_limit AS l (key, lock_after, failures, locked_until, stale_after)
		  SELECT k, n, CASE WHEN n > 1 THEN ARRAY[now()] ELSE '{}' END, CASE WHEN n <= 1 THEN now() + $3::interval END, now() + $3::interval
		  FROM unnest($1::text[], $2::int[]) AS f(k, n) ORDER BY k
		  ON CONFLICT (key) DO UPDATE SET
		    lock_after   = EXCLUDED.lock_after,
		    failures     = CASE WHEN l.locked_until > now() THEN l.failures
		                        WHEN cardinality(auth_recent(l.failures, $3::interval)) + 1 >= EXCLUDED.lock_after THEN '{}'
		                        ELSE auth_recent(l.failures, $3::interval) || now() END,
		    locked_until = CASE WHEN l.locked_until > now() THEN l.locked_until
		                        WHEN cardinality(auth_recent(l.failures, $3::interval)) + 1 >= EXCLUDED.lock_after THEN now() + $3::interval
		                        ELSE l.locked_until END,
		    stale_after  = greatest(now() + $3::interval, l.locked_until)
		  RETURNING key, lock_after, locked_until, locked_until = now() + $3::interval AS locked
		)
		INSERT INTO admin_audit (actor, action, target, detail)
		SELECT 'server:auth-limit', 'auth.lockout', key,
		       jsonb_build_object('failures', lock_after, 'window', $3::interval::text, 'until', locked_until, 'address', $4::text)
		FROM hit WHERE locked
		RETURNING target`, keys, limits, f.Window, f.Address)
	if err != nil {
		return nil, fmt.Errorf("storage: auth failure: %w", err)
	}
	locked, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("storage: auth failure: %w", err)
	}
	return locked, nil
}

func sortedLimits(keys []string, limits []int) ([]string, []int32) {
	idx := make([]int, len(keys))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return keys[idx[a]] < keys[idx[b]] })
	k, n := make([]string, len(keys)), make([]int32, len(keys))
	for i, j := range idx {
		k[i], n[i] = keys[j], int32(limits[j])
	}
	return k, n
}

// authLockedUntil is a scalar subquery: the latest end of a lockout in
// force on any of the keys in the parameter it names, or NULL.
func authLockedUntil(param string) string {
	return `(SELECT max(locked_until) FROM auth_limit WHERE key = ANY(` + param + `::text[]) AND locked_until > now())`
}

// AuthLockedUntil is when the lockouts in force on any of keys end; zero
// when there is none.
func (s *Store) AuthLockedUntil(ctx context.Context, keys []string) (time.Time, error) {
	var until *time.Time
	if err := s.db.QueryRow(ctx, `SELECT `+authLockedUntil("$1"), keys).Scan(&until); err != nil {
		return time.Time{}, fmt.Errorf("storage: auth lock: %w", err)
	}
	return orZero(until), nil
}

func orZero(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}

// PruneAuthLimits deletes the counts that no longer count anything.
func (s *Store) PruneAuthLimits(ctx context.Context) error {
	if _, err := s.db.Exec(ctx, `DELETE FROM auth_limit WHERE stale_after < now()`); err != nil {
		return fmt.Errorf("storage: prune auth limits: %w", err)
	}
	return nil
}
