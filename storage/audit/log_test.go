package audit_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirserver/fhirserver/storage"
	"github.com/fhirserver/fhirserver/storage/audit"
	"github.com/fhirserver/fhirserver/storage/keyring"
	"github.com/fhirserver/fhirserver/storage/storagetest"
)

// openAuditLog opens a fresh store's audit log of two stripes, under a key
// from a local key file; it returns the store, its owner's connection
// string, the key and the log.
func openAuditLog(t testing.TB) (*storage.Store, string, []byte, *audit.Log) {
	t.Helper()
	s, owner := storagetest.OpenWith(t, storage.Options{MaxConns: 4})
	kp, err := keyring.OpenLocalFile(filepath.Join(t.TempDir(), "kek"))
	require.NoError(t, err)
	key, err := audit.New(s).Key(context.Background(), kp)
	require.NoError(t, err)
	log, err := audit.New(s).Open(context.Background(), key, 2)
	require.NoError(t, err)
	return s, owner, key, log
}

// auditedStore writes 45 audit events, 20 in turn, 20 from concurrent
// callers and 5 in turn again, over two stripes, and returns the store, its key and an owner connection that may
// bypass the append-only triggers, as an attacker with superuser SQL could.
func auditedStore(t *testing.T) (*storage.Store, []byte, *pgx.Conn) {
	t.Helper()
	s, owner, key, log := openAuditLog(t)
	ctx := context.Background()
	// One at a time, links of one row; then at once, links of several.
	for i := range 20 {
		require.NoError(t, log.Record(ctx, []byte(fmt.Sprintf(`{"resourceType":"AuditEvent","id":"s%02d"}`, i))))
	}
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			assert.NoError(t, log.Record(ctx, []byte(fmt.Sprintf(`{"resourceType":"AuditEvent","id":"e%02d"}`, i))))
		}()
	}
	wg.Wait()
	// And one at a time again: the links of several are inside the chain.
	for i := range 5 {
		require.NoError(t, log.Record(ctx, []byte(fmt.Sprintf(`{"resourceType":"AuditEvent","id":"t%02d"}`, i))))
	}
	log.Close()
	conn, err := pgx.Connect(ctx, owner)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close(ctx) })
	_, err = conn.Exec(ctx, "SET session_replication_role = replica") // triggers off: superuser only
	require.NoError(t, err)
	return s, key, conn
}

func TestAuditChainVerifies(t *testing.T) {
	t.Parallel()
	s, key, conn := auditedStore(t)
	ctx := context.Background()
	n, broken, err := audit.New(s).Verify(ctx, key)
	require.NoError(t, err)
	assert.Nil(t, broken)
	assert.EqualValues(t, 45, n)
	var links int
	require.NoError(t, conn.QueryRow(ctx, `SELECT count(DISTINCT stripe) FROM audit_link`).Scan(&links))
	assert.Equal(t, 1, links, "requests' records share the first stripe (the second is for writes)")
	require.NoError(t, conn.QueryRow(ctx, `SELECT count(*) FROM audit_link WHERE count > 1`).Scan(&links))
	assert.Positive(t, links, "records that wait together commit as one link")

	_, broken, err = audit.New(s).Verify(ctx, make([]byte, 32))
	require.NoError(t, err)
	assert.NotNil(t, broken, "another key does not verify the chain")
}

// Each kind of tampering is found at the link it touched.
func TestAuditChainFindsTampering(t *testing.T) {
	t.Parallel()
	// target picks a link of several records in stripe 0's chain, with
	// links after it.
	target := func(t *testing.T, conn *pgx.Conn) int64 {
		var link int64
		require.NoError(t, conn.QueryRow(context.Background(), `
			SELECT link FROM audit_link WHERE stripe = 0 AND count > 1
			AND link < (SELECT max(link) FROM audit_link WHERE stripe = 0) ORDER BY link LIMIT 1`).Scan(&link))
		return link
	}
	tests := map[string]func(link int64) string{
		"an edited record": func(link int64) string {
			return fmt.Sprintf(`UPDATE audit_link SET events[1] = '{"resourceType":"AuditEvent","id":"0.%[1]d.0","forged":true}' WHERE stripe = 0 AND link = %[1]d`, link)
		},
		"a record's time changed": func(link int64) string {
			return fmt.Sprintf(`UPDATE audit_link SET times[1] = times[1] - interval '1 hour' WHERE stripe = 0 AND link = %d`, link)
		},
		"a deleted record": func(link int64) string {
			return fmt.Sprintf(`UPDATE audit_link SET events = events[2:], times = times[2:], count = count - 1 WHERE stripe = 0 AND link = %d`, link)
		},
		"an inserted record": func(link int64) string {
			return fmt.Sprintf(`UPDATE audit_link SET events = events || '{"resourceType":"AuditEvent"}'::text, times = times || now(), count = count + 1 WHERE stripe = 0 AND link = %d`, link)
		},
		"reordered records": func(link int64) string {
			return fmt.Sprintf(`UPDATE audit_link SET events = ARRAY[events[2], events[1]] || events[3:], times = ARRAY[times[2], times[1]] || times[3:] WHERE stripe = 0 AND link = %d`, link)
		},
		"records moved to the next link": func(link int64) string {
			return fmt.Sprintf(`UPDATE audit_link l SET events = n.events, times = n.times, count = n.count
				FROM audit_link n WHERE l.stripe = 0 AND l.link = %[1]d AND n.stripe = 0 AND n.link = %[1]d + 1`, link)
		},
		"a row of audit_event beside the link's own": func(link int64) string {
			return fmt.Sprintf(`INSERT INTO audit_event (stripe, link, position, recorded, event) VALUES (0, %d, 0, now(), '{"resourceType":"AuditEvent"}')`, link)
		},
		"a deleted link": func(link int64) string {
			return fmt.Sprintf(`DELETE FROM audit_link WHERE stripe = 0 AND link = %d`, link)
		},
	}
	for name, tamper := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s, key, conn := auditedStore(t)
			ctx := context.Background()
			link := target(t, conn)
			_, err := conn.Exec(ctx, tamper(link))
			require.NoError(t, err)
			_, broken, err := audit.New(s).Verify(ctx, key)
			require.NoError(t, err)
			require.NotNil(t, broken, "tampering goes unnoticed")
			assert.Equal(t, int16(0), broken.Stripe)
			assert.Equal(t, link, broken.Link, broken.Error())
		})
	}
}

// The audit key is made once, stored wrapped, and only the key provider
// that wrapped it can unwrap it.
func TestAuditKeyComesFromTheKeyProvider(t *testing.T) {
	t.Parallel()
	s, owner := storagetest.Open(t)
	ctx := context.Background()
	kp, err := keyring.OpenLocalFile(filepath.Join(t.TempDir(), "kek"))
	require.NoError(t, err)
	first, err := audit.New(s).Key(ctx, kp)
	require.NoError(t, err)
	again, err := audit.New(s).Key(ctx, kp)
	require.NoError(t, err)
	assert.Equal(t, first, again)
	conn, err := pgx.Connect(ctx, owner)
	require.NoError(t, err)
	defer conn.Close(ctx)
	var stored []byte
	require.NoError(t, conn.QueryRow(ctx, `SELECT wrapped FROM audit_key`).Scan(&stored))
	assert.NotContains(t, string(stored), string(first), "the database holds the key only wrapped")
	other, err := keyring.OpenLocalFile(filepath.Join(t.TempDir(), "kek"))
	require.NoError(t, err)
	_, err = audit.New(s).Key(ctx, other)
	assert.Error(t, err)
}

// Rotating the key-encryption key re-wraps the audit key; the log is not
// rewritten and still verifies, and the old key no longer opens it.
func TestAuditKeyRewrap(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	oldKP, err := keyring.OpenLocalFile(filepath.Join(t.TempDir(), "old"))
	require.NoError(t, err)
	s, _ := storagetest.Open(t)
	first, err := audit.New(s).Key(ctx, oldKP)
	require.NoError(t, err)
	log, err := audit.New(s).Open(ctx, first, 1)
	require.NoError(t, err)
	require.NoError(t, log.Record(ctx, []byte(`{"resourceType":"AuditEvent","id":"before"}`)))
	log.Close()
	newKP, err := keyring.OpenLocalFile(filepath.Join(t.TempDir(), "new"))
	require.NoError(t, err)
	require.NoError(t, audit.New(s).RewrapKey(ctx, oldKP, newKP))
	got, err := audit.New(s).Key(ctx, newKP)
	require.NoError(t, err)
	assert.Equal(t, first, got, "the same audit key, wrapped anew")
	_, err = audit.New(s).Key(ctx, oldKP)
	assert.Error(t, err, "the retired key-encryption key no longer opens it")
	n, broken, err := audit.New(s).Verify(ctx, got)
	require.NoError(t, err)
	assert.Nil(t, broken)
	assert.EqualValues(t, 1, n)
}

// Each stripe writes on a connection of its own, outside the pool: a
// commit never waits behind the requests it audits, and a connection the
// database drops is replaced without losing the chain.
func TestAuditLogOwnConnections(t *testing.T) {
	t.Parallel()
	s, owner, key, log := openAuditLog(t)
	ctx := context.Background()
	defer log.Close()
	record := func(id string) error {
		return log.Record(ctx, []byte(fmt.Sprintf(`{"resourceType":"AuditEvent","id":"%s"}`, id)))
	}

	// Every pooled connection busy (the pool's four held by open
	// transactions, and a fifth waiting): records still commit.
	release := make(chan struct{})
	var held sync.WaitGroup
	started := make(chan struct{}, 4)
	for range 4 {
		held.Add(1)
		go func() {
			defer held.Done()
			assert.NoError(t, s.InTx(ctx, func(*storage.Tx) error {
				started <- struct{}{}
				<-release
				return nil
			}))
		}()
	}
	for range 4 {
		<-started
	}
	busy, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	assert.Error(t, s.InTx(busy, func(*storage.Tx) error { return nil }), "the pool is exhausted")
	cancel()
	for i := range 4 {
		require.NoError(t, record(fmt.Sprintf("busy%d", i)))
	}
	close(release)
	held.Wait()

	// The database ends the stripes' sessions: the next records reconnect.
	conn, err := pgx.Connect(ctx, owner)
	require.NoError(t, err)
	defer conn.Close(ctx)
	var ended int
	require.NoError(t, conn.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND application_name = $1`, audit.ApplicationName).Scan(&ended))
	require.Equal(t, 2, ended)
	for i := range 4 {
		require.NoError(t, record(fmt.Sprintf("after%d", i)))
	}
	n, broken, err := audit.New(s).Verify(ctx, key)
	require.NoError(t, err)
	assert.Nil(t, broken)
	assert.EqualValues(t, 8, n)
}

// A write's record commits with the write, in the chain that the records
// of reads share; two servers on one database claim stripes of their own.
// The chains verify, every committed write has its record, and a write
// rolled back left neither.
func TestWritesCommitWithTheirAuditRecord(t *testing.T) {
	t.Parallel()
	s, owner, key, log := openAuditLog(t)
	ctx := context.Background()
	other, err := audit.New(s).Open(ctx, key, 2) // a second server on the same database
	require.NoError(t, err)
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			assert.NoError(t, log.Record(ctx, []byte(`{"resourceType":"AuditEvent","action":"R"}`)))
		}()
		go func() {
			defer wg.Done()
			err := s.InTx(ctx, func(tx *storage.Tx) error {
				row := storage.Row{Key: storage.Key{Type: "Basic", ID: fmt.Sprintf("b%02d", i)}, Version: 1, Method: "PUT", Resource: []byte(`{}`)}
				if err := tx.Append(ctx, []storage.Row{row}); err != nil {
					return err
				}
				tx.Audit([]byte(`{"resourceType":"AuditEvent","action":"C"}`))
				if i%4 == 3 {
					return errors.New("refused after its record was given")
				}
				return nil
			})
			if i%4 == 3 {
				assert.Error(t, err)
			} else {
				assert.NoError(t, err)
			}
		}()
	}
	wg.Wait()
	log.Close()
	other.Close()
	n, broken, err := audit.New(s).Verify(ctx, key)
	require.NoError(t, err)
	assert.Nil(t, broken)
	assert.EqualValues(t, 40+30, n)
	var stripes int
	conn0, err := pgx.Connect(ctx, owner)
	require.NoError(t, err)
	defer conn0.Close(ctx)
	require.NoError(t, conn0.QueryRow(ctx, `SELECT count(DISTINCT stripe) FROM audit_link`).Scan(&stripes))
	// The first server's reads in its first stripe, the writes of the
	// second (the store's auditor now) in its other one.
	assert.Equal(t, 2, stripes, "each server writes stripes of its own")

	conn, err := pgx.Connect(ctx, owner)
	require.NoError(t, err)
	defer conn.Close(ctx)
	var writes, records int
	require.NoError(t, conn.QueryRow(ctx, `SELECT (SELECT count(*) FROM resource_version WHERE type = 'Basic'),
		(SELECT count(*) FROM audit_record WHERE event LIKE '%"action":"C"%')`).Scan(&writes, &records))
	assert.Equal(t, 30, writes)
	assert.Equal(t, 30, records)
}
