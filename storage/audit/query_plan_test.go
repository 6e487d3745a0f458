package audit

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirserver/fhirserver/storage"
	"github.com/fhirserver/fhirserver/storage/storagetest"
)

// The AuditEvent search reads the link index newest first and stops at
// the page's end, with or without a date bound: a page costs the same in
// a log of any size. Read through the one view of every record instead,
// PostgreSQL would unnest every link and sort.
func TestAuditSearchReadsLinksInIndexOrder(t *testing.T) {
	t.Parallel()
	_, owner := storagetest.OpenWith(t, storage.Options{MaxConns: 2})
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, owner)
	require.NoError(t, err)
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, `
		INSERT INTO audit_link (stripe, link, count, prev, mac, recorded, first_recorded, times, events)
		SELECT 0, g, 2, '\x00', '\x00', t, t, ARRAY[t, t], ARRAY['{"resourceType":"AuditEvent","action":"R"}', '{"resourceType":"AuditEvent","action":"C"}']
		FROM generate_series(1, 20000) g, LATERAL (SELECT now() - (20000 - g) * interval '1 ms' AS t) x;
		ANALYZE audit_link`)
	require.NoError(t, err)
	for name, q := range map[string]Query{
		"newest":      {Limit: 51},
		"since":       {From: time.Now().Add(-time.Second), Limit: 51},
		"an action":   {Action: "C", Limit: 51},
		"next page":   {After: &Row{Recorded: time.Now().Add(-5 * time.Second), Stripe: 0, Link: 15000}, Limit: 51},
		"until, from": {From: time.Now().Add(-10 * time.Second), To: time.Now().Add(-5 * time.Second), Limit: 51},
	} {
		sql, args := q.page()
		rows, err := conn.Query(ctx, "EXPLAIN "+sql, args...)
		require.NoError(t, err, name)
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		require.NoError(t, err, name)
		plan := strings.Join(lines, "\n")
		assert.Contains(t, plan, "Index Scan Backward using audit_link_recorded", "%s:\n%s", name, plan)
		assert.NotContains(t, plan, "Seq Scan on audit_link", "%s:\n%s", name, plan)
		if q.From.IsZero() && q.After == nil {
			continue
		}
		// A bound starts the scan where the page starts, not at the newest.
		assert.Regexp(t, `Index Cond: \(recorded [<>]=`, plan, "%s:\n%s", name, plan)
	}
}
