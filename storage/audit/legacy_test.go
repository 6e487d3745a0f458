package audit

import (
	"context"
	"crypto/sha256"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirserver/fhirserver/storage"
	"github.com/fhirserver/fhirserver/storage/keyring"
	"github.com/fhirserver/fhirserver/storage/storagetest"
)

// A log written before migration 035 (events as json, found by the
// expression index) and before 038 (events as text in rows of their own,
// with an id column) still verifies, reads and searches beside the links
// written since (records in the link's own row, ids by place), and the id
// column, which the MAC does not cover, can neither hide an event from
// Verify nor answer a read by id with another event.
func TestLogsWrittenBeforeTheTextColumnStillVerify(t *testing.T) {
	t.Parallel()
	s, owner := storagetest.OpenWith(t, storage.Options{MaxConns: 4})
	ctx := context.Background()
	kp, err := keyring.OpenLocalFile(filepath.Join(t.TempDir(), "kek"))
	require.NoError(t, err)
	key, err := New(s).Key(ctx, kp)
	require.NoError(t, err)
	conn, err := pgx.Connect(ctx, owner)
	require.NoError(t, err)
	defer conn.Close(ctx)

	// Three links of stripe 0 as the server wrote them before: two with
	// event_json and no id (before 035), one with event text and its id
	// (before 038).
	prev := make([]byte, sha256.Size)
	at := time.Now().UTC().Truncate(time.Microsecond)
	old := [][]string{
		{`{"resourceType":"AuditEvent","id":"old-1","action":"R","outcome":"0","entity":[{"what":{"reference":"Patient/p1"}}]}`},
		{`{"resourceType":"AuditEvent","id":"old-2","action":"C","outcome":"0"}`, `{"id":"old-3","resourceType":"AuditEvent","action":"R", "outcome" : "4"}`},
		{`{"resourceType":"AuditEvent","id":"mid-1","action":"R","outcome":"0"}`},
	}
	for i, events := range old {
		link := int64(i + 1)
		batch := make([]*record, len(events))
		for j, e := range events {
			batch[j] = &record{at: at, event: []byte(e)}
		}
		mac := linkMAC(key, 0, link, prev, batch)
		_, err := conn.Exec(ctx, `INSERT INTO audit_link (stripe, link, count, prev, mac) VALUES (0, $1, $2, $3, $4)`, link, len(events), prev, mac)
		require.NoError(t, err)
		for j, e := range events {
			if link < 3 {
				_, err = conn.Exec(ctx, `INSERT INTO audit_event (stripe, link, position, recorded, event_json) VALUES (0, $1, $2, $3, $4::json)`, link, j, at, e)
			} else {
				_, err = conn.Exec(ctx, `INSERT INTO audit_event (stripe, link, position, recorded, event, id) VALUES (0, $1, $2, $3, $4, $5)`, link, j, at, e, eventID([]byte(e)))
			}
			require.NoError(t, err)
		}
		prev = mac
	}

	// The server goes on from the chain's head, a link a row.
	log, err := New(s).Open(ctx, key, 2)
	require.NoError(t, err)
	require.NoError(t, log.Record(ctx, []byte(`{"resourceType":"AuditEvent","id":"rendered","action":"R","outcome":"0","entity":[{"what":{"reference":"Patient/p1"}}]}`)))
	log.Close()
	newID := PlaceID(0, 4, 0)
	var rows, own int
	require.NoError(t, conn.QueryRow(ctx, `SELECT (SELECT count(*) FROM audit_event), (SELECT count(*) FROM audit_link WHERE events IS NOT NULL)`).Scan(&rows, &own))
	assert.Equal(t, 4, rows)
	assert.Equal(t, 1, own)

	n, broken, err := New(s).Verify(ctx, key)
	require.NoError(t, err)
	require.Nil(t, broken)
	assert.EqualValues(t, 5, n)

	for _, id := range []string{"old-1", "old-3", "mid-1", newID} {
		ev, err := New(s).Event(ctx, id)
		require.NoError(t, err, id)
		assert.Equal(t, id, eventID(ev))
	}
	_, err = New(s).Event(ctx, "rendered")
	assert.ErrorIs(t, err, storage.ErrNotFound, "the id it was rendered with is replaced by its place")
	got, err := New(s).Event(ctx, "old-3")
	require.NoError(t, err)
	assert.Equal(t, old[1][1], string(got), "the bytes as written")
	found, err := New(s).Events(ctx, Query{Entities: []string{"Patient/p1"}, Action: "R", Limit: 10})
	require.NoError(t, err)
	var ids []string
	for _, r := range found {
		ids = append(ids, eventID(r.Event))
	}
	assert.Equal(t, []string{newID, "old-1"}, ids, "newest first")
	c, err := New(s).Count(ctx, Query{Outcome: "4"})
	require.NoError(t, err)
	assert.Equal(t, 1, c)
	c, err = New(s).Count(ctx, Query{Action: "R"})
	require.NoError(t, err)
	assert.Equal(t, 4, c)

	// The id column renamed to another event's id: the read by that id
	// still answers only the event that holds it, and Verify names the row.
	_, err = conn.Exec(ctx, `SET session_replication_role = replica; UPDATE audit_event SET id = 'old-1' WHERE id = 'mid-1'`)
	require.NoError(t, err)
	ev, err := New(s).Event(ctx, "old-1")
	require.NoError(t, err)
	assert.Equal(t, old[0][0], string(ev))
	_, err = New(s).Event(ctx, "mid-1")
	assert.ErrorIs(t, err, storage.ErrNotFound, "hidden from the read by id…")
	_, broken, err = New(s).Verify(ctx, key)
	require.NoError(t, err)
	require.NotNil(t, broken, "…but not from Verify")
	assert.Equal(t, int64(3), broken.Link)
}

func TestEventID(t *testing.T) {
	for event, id := range map[string]string{
		`{"resourceType":"AuditEvent","id":"00000000-0000-4000-8000-000000000001","type":{}}`: "00000000-0000-4000-8000-000000000001",
		`{"id":"x","resourceType":"AuditEvent"}`:                                              "x",
		`{"resourceType":"AuditEvent","id":"a\"b"}`:                                           `a"b`,
		`{"resourceType":"AuditEvent"}`:                                                       "",
		`not json`:                                                                            "",
	} {
		assert.Equal(t, id, eventID([]byte(event)), event)
	}
}
