package audit

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/fhirserver/fhirserver/storage"
)

// BenchmarkAuditVerify measures `audit verify` in rows per second over a
// log of AUDIT_VERIFY_ROWS rows (default 1,000,000; the issue asks for ten
// million), written straight into the tables in links of 512 rows with
// their real MACs. Run with DATABASE_URL pointing at a database made for
// it: the tables must be empty.
func BenchmarkAuditVerify(b *testing.B) {
	url := os.Getenv("AUDIT_BENCH_DATABASE_URL")
	if url == "" {
		b.Skip("AUDIT_BENCH_DATABASE_URL is not set (a migrated database of its own)")
	}
	rows := 1_000_000
	if n, err := strconv.Atoi(os.Getenv("AUDIT_VERIFY_ROWS")); err == nil {
		rows = n
	}
	ctx := context.Background()
	s, err := storage.Open(ctx, url, storage.Options{}, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	key := make([]byte, 32)
	var have int64
	if err := s.Querier().QueryRow(ctx, `SELECT count(*) FROM audit_event`).Scan(&have); err != nil {
		b.Fatal(err)
	}
	if have == 0 {
		start := time.Now()
		if err := writeAuditRows(ctx, url, key, rows); err != nil {
			b.Fatal(err)
		}
		b.Logf("wrote %d rows in %v", rows, time.Since(start))
	}
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		n, broken, err := New(s).Verify(ctx, key)
		if err != nil || broken != nil {
			b.Fatalf("%v %v", err, broken)
		}
		secs := time.Since(start).Seconds()
		b.ReportMetric(float64(n)/secs, "rows/s")
		b.Logf("verified %d rows in %.1f s: %.0f rows/s", n, secs, float64(n)/secs)
	}
}

// writeAuditRows COPYs rows of a typical AuditEvent size, one stripe, links
// of 512, as the owner (the benchmark's own database).
func writeAuditRows(ctx context.Context, url string, key []byte, rows int) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	prev := make([]byte, sha256.Size)
	at := time.Now().UTC().Truncate(time.Microsecond)
	var links, events [][]any
	flush := func() error {
		if _, err := conn.CopyFrom(ctx, pgx.Identifier{"audit_link"}, []string{"stripe", "link", "count", "prev", "mac"}, pgx.CopyFromRows(links)); err != nil {
			return err
		}
		_, err := conn.CopyFrom(ctx, pgx.Identifier{"audit_event"}, []string{"stripe", "link", "position", "recorded", "event"}, pgx.CopyFromRows(events))
		links, events = links[:0], events[:0]
		return err
	}
	for link, done := int64(1), 0; done < rows; link++ {
		n := min(512, rows-done)
		batch := make([]*record, n)
		for i := range batch {
			ev := fmt.Sprintf(`{"resourceType":"AuditEvent","id":"%d-%d","type":{"system":"http://terminology.hl7.org/CodeSystem/audit-event-type","code":"rest"},"subtype":[{"system":"http://hl7.org/fhir/restful-interaction","code":"read"}],"action":"R","recorded":"%s","outcome":"0","agent":[{"who":{"identifier":{"value":"bench"}},"requestor":true,"network":{"address":"127.0.0.1","type":"2"}}],"entity":[{"what":{"reference":"Patient/p%d"}}]}`,
				link, i, at.Format(time.RFC3339Nano), done+i)
			batch[i] = &record{at: at, event: []byte(ev)}
			events = append(events, []any{int16(0), link, int32(i), at, ev})
		}
		mac := linkMAC(key, 0, link, prev, batch)
		links = append(links, []any{int16(0), link, int32(n), prev, mac})
		prev = mac
		done += n
		if len(events) >= 50_000 {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}
