package audit_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// BenchmarkRecordOneAtATime: a record's latency when requests do not
// overlap (issue 18 goal 3, c=1), beside the floor measured on the same
// database: a one-row INSERT and its commit.
func BenchmarkRecordOneAtATime(b *testing.B) {
	_, owner, _, log := openAuditLog(b)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, owner)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE TABLE bench_durable (n int)`); err != nil {
		b.Fatal(err)
	}
	const n = 3000
	var floor, rec []time.Duration
	for i := range 2 * n {
		start := time.Now()
		if i%2 == 0 {
			if _, err := conn.Exec(ctx, `INSERT INTO bench_durable VALUES ($1)`, i); err != nil {
				b.Fatal(err)
			}
			floor = append(floor, time.Since(start))
			continue
		}
		ev := fmt.Sprintf(`{"resourceType":"AuditEvent","id":"%08d-aaaa-bbbb-cccc-dddddddddddd","type":{"system":"http://terminology.hl7.org/CodeSystem/audit-event-type","code":"rest"},"subtype":[{"system":"http://hl7.org/fhir/restful-interaction","code":"read"}],"action":"R","recorded":"2026-12-06T22:00:00Z","outcome":"0","agent":[{"who":{"identifier":{"value":"bench"}},"requestor":true,"network":{"address":"127.0.0.1","type":"2"}}],"entity":[{"what":{"reference":"Patient/p1"}}]}`, i)
		if err := log.Record(ctx, []byte(ev)); err != nil {
			b.Fatal(err)
		}
		rec = append(rec, time.Since(start))
	}
	p := func(ds []time.Duration, q int) time.Duration { slices.Sort(ds); return ds[len(ds)*q/100] }
	b.Logf("floor p50 %v p99 %v; record p50 %v p99 %v; ratio %.2f", p(floor, 50), p(floor, 99), p(rec, 50), p(rec, 99), float64(p(rec, 50))/float64(p(floor, 50)))
}

// BenchmarkRecordConcurrent: records/s from 16 goroutines, and
// PostgreSQL's CPU per record (every postgres process, from /proc).
func BenchmarkRecordConcurrent(b *testing.B) {
	_, _, _, log := openAuditLog(b)
	ctx := context.Background()
	ev := []byte(`{"resourceType":"AuditEvent","id":"00000000-aaaa-bbbb-cccc-dddddddddddd","type":{"system":"http://terminology.hl7.org/CodeSystem/audit-event-type","code":"rest"},"subtype":[{"system":"http://hl7.org/fhir/restful-interaction","code":"read"}],"action":"R","recorded":"2026-12-06T22:00:00Z","outcome":"0","agent":[{"who":{"identifier":{"value":"bench"}},"requestor":true,"network":{"address":"127.0.0.1","type":"2"}}],"entity":[{"what":{"reference":"Patient/p1"}}]}`)
	for _, conc := range []int{1, 16, 64} {
		var n atomic.Int64
		pg0, self0 := pgCPU(), selfCPU()
		start := time.Now()
		var wg sync.WaitGroup
		for range conc {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for time.Since(start) < 4*time.Second {
					if err := log.Record(ctx, ev); err != nil {
						b.Error(err)
						return
					}
					n.Add(1)
				}
			}()
		}
		wg.Wait()
		el := time.Since(start)
		pg, self := pgCPU()-pg0, selfCPU()-self0
		b.Logf("c=%d %d records/s, cpu per record: postgres %v, this process %v", conc, int64(float64(n.Load())/el.Seconds()), pg/time.Duration(n.Load()), self/time.Duration(n.Load()))
	}
}

func pgCPU() time.Duration {
	var total time.Duration
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		comm, err := os.ReadFile("/proc/" + e.Name() + "/comm")
		if err != nil || strings.TrimSpace(string(comm)) != "postgres" {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+2:]))
		u, _ := strconv.Atoi(f[11])
		s, _ := strconv.Atoi(f[12])
		total += time.Duration(u+s) * 10 * time.Millisecond
	}
	return total
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkLinkShapes weighs the lever issue 18's goal 3 points at: a
// link's records as one row each (today: a link row plus a row a record,
// three index entries a record) against one row a link holding all its
// records (one index entry a link). One connection writes links back to
// back, as the stripe's writer does; PostgreSQL's CPU per record and the
// time per link are reported for links of 1, 6 and 24 records.
func BenchmarkLinkShapes(b *testing.B) {
	_, owner, _, _ := openAuditLog(b)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, owner)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE TABLE bench_packed (stripe smallint, link bigint, count int, prev bytea, mac bytea,
		recorded timestamptz, events text, PRIMARY KEY (stripe, link))`); err != nil {
		b.Fatal(err)
	}
	ev := `{"resourceType":"AuditEvent","id":"00000000-aaaa-bbbb-cccc-dddddddddddd","type":{"system":"http://terminology.hl7.org/CodeSystem/audit-event-type","code":"rest"},"subtype":[{"system":"http://hl7.org/fhir/restful-interaction","code":"read"}],"action":"R","recorded":"2026-12-06T22:00:00Z","outcome":"0","agent":[{"who":{"identifier":{"value":"bench"}},"requestor":true,"network":{"address":"127.0.0.1","type":"2"}}],"entity":[{"what":{"reference":"Patient/p1"}}]}`
	mac := make([]byte, 32)
	link := int64(1000)
	shapes := map[string]func(n int) error{
		"row a record": func(n int) error {
			link++
			pos, at, ids, evs := make([]int32, n), make([]time.Time, n), make([]string, n), make([]string, n)
			for i := range n {
				pos[i], at[i], ids[i], evs[i] = int32(i), time.Now(), fmt.Sprintf("%d-%d", link, i), ev
			}
			_, err := conn.Exec(ctx, `
				WITH l AS (INSERT INTO audit_link (stripe, link, count, prev, mac) VALUES (9, $1, $2, $3, $3))
				INSERT INTO audit_event (stripe, link, position, recorded, id, event)
				SELECT 9, $1, p, r, i, e FROM unnest($4::int[], $5::timestamptz[], $6::text[], $7::text[]) AS x(p, r, i, e)`,
				link, n, mac, pos, at, ids, evs)
			return err
		},
		"row a link": func(n int) error {
			link++
			_, err := conn.Exec(ctx, `INSERT INTO bench_packed VALUES (9, $1, $2, $3, $3, $4, $5)`,
				link, n, mac, time.Now(), "["+strings.Repeat(ev+",", n-1)+ev+"]")
			return err
		},
	}
	for _, n := range []int{1, 6, 24} {
		for _, name := range []string{"row a record", "row a link"} {
			write := shapes[name]
			links, pg0, start := 0, pgCPU(), time.Now()
			for time.Since(start) < 3*time.Second {
				if err := write(n); err != nil {
					b.Fatal(err)
				}
				links++
			}
			el, pg := time.Since(start), pgCPU()-pg0
			b.Logf("%-12s links of %2d: %6.0f records/s, %v a link, postgres CPU %v a record",
				name, n, float64(links*n)/el.Seconds(), el/time.Duration(links), pg/time.Duration(links*n))
		}
	}
}
