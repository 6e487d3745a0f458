package fhirserver_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Issue 10's rule with the real audit log, under load: reads and searches
// answered at once share their records' links (group commit), and each
// response leaves only once its record is committed. When the log refuses
// inserts, every one of them, whichever link it shared, is a 5xx without
// PHI; once it takes them, each 200 finds its record already committed.
func TestReadsWaitForTheirRecordsCommit(t *testing.T) {
	t.Parallel()
	ts := launchServer(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, ts.owner)
	require.NoError(t, err)
	defer conn.Close(ctx)
	records := func() (n int) {
		require.NoError(t, conn.QueryRow(ctx, `SELECT count(*) FROM audit_record`).Scan(&n))
		return n
	}
	paths := []string{"/Patient/p1", "/Observation?patient=p1"}
	// Each request names itself in its User-Agent, which its record keeps.
	burst := func(check func(path, agent string, r response)) {
		var wg sync.WaitGroup
		for i := range 32 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				path, agent := paths[i%len(paths)], fmt.Sprintf("burst-%02d", i)
				check(path, agent, ts.do("GET", path, "", "", "User-Agent", agent))
			}()
		}
		wg.Wait()
	}

	refuseInserts(t, conn, "audit_link")
	before := records()
	burst(func(path, _ string, r response) {
		assert.GreaterOrEqual(t, r.Status, 500, "%s: %s", path, r.Body)
		assert.NotContains(t, string(r.Body), "Chalmers", path)
		assert.NotContains(t, string(r.Body), `"Observation"`, path)
		assert.Empty(t, r.Header.Get("ETag"), path)
	})
	assert.Equal(t, before, records(), "nothing was recorded, and nothing was sent")

	allowInserts(t, conn, "audit_link")
	var mu sync.Mutex
	burst(func(path, agent string, r response) {
		assert.Equal(t, 200, r.Status, "%s: %s", path, r.Body)
		// Committed before the response left: visible to another session
		// the moment the response is read.
		mu.Lock()
		defer mu.Unlock()
		var n int
		require.NoError(t, conn.QueryRow(ctx, `SELECT count(*) FROM audit_record WHERE strpos(event, $1) > 0`, `"`+agent+`"`).Scan(&n))
		assert.Equal(t, 1, n, "%s: its record was not committed when its answer came", path)
	})
	assert.Equal(t, before+32, records())
}
