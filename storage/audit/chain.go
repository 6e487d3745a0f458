package audit

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/fhirserver/fhirserver/storage"
)

// A link's MAC covers its place in the chain (stripe, link number), the
// MAC of the link before it and each of its rows in order (position,
// recorded, the event's bytes), under the audit key.

// linkMAC is the HMAC of a link: its place in the chain, the link before
// it, and each of its rows in order.
func linkMAC(key []byte, stripe int16, link int64, prev []byte, batch []*record) []byte {
	m := hmac.New(sha256.New, key)
	header(m, stripe, link, prev, len(batch))
	for i, r := range batch {
		row(m, int32(i), r.at, r.event)
	}
	return m.Sum(nil)
}

func header(m hash.Hash, stripe int16, link int64, prev []byte, count int) {
	var b [14]byte
	binary.BigEndian.PutUint16(b[0:], uint16(stripe))
	binary.BigEndian.PutUint64(b[2:], uint64(link))
	binary.BigEndian.PutUint32(b[10:], uint32(count))
	m.Write(b[:])
	m.Write(prev)
}

func row(m hash.Hash, position int32, at time.Time, event []byte) {
	var b [16]byte
	binary.BigEndian.PutUint32(b[0:], uint32(position))
	binary.BigEndian.PutUint64(b[4:], uint64(at.UnixMicro()))
	binary.BigEndian.PutUint32(b[12:], uint32(len(event)))
	m.Write(b[:])
	m.Write(event)
}

// Break is where a chain stops verifying.
type Break struct {
	Stripe int16
	Link   int64
	Reason string
}

func (b *Break) Error() string {
	return fmt.Sprintf("audit chain %d breaks at link %d: %s", b.Stripe, b.Link, b.Reason)
}

// Verify recomputes every link of every chain from its rows and returns
// the number of rows checked and the first break (nil when the chains
// hold). It reads the log in one pass, in chain order.
func (s *Store) Verify(ctx context.Context, key []byte) (n int64, b *Break, err error) {
	// It reads the whole log: a long job, beyond a request's budget.
	err = s.db.LongRead(ctx, func(q storage.Querier) error {
		n, b, err = verify(ctx, q, key)
		return err
	})
	return n, b, err
}

func verify(ctx context.Context, q storage.Querier, key []byte) (int64, *Break, error) {
	var orphan Break
	err := q.QueryRow(ctx, `
		SELECT e.stripe, e.link FROM audit_event e
		WHERE NOT EXISTS (SELECT 1 FROM audit_link l WHERE l.stripe = e.stripe AND l.link = e.link)
		ORDER BY e.stripe, e.link LIMIT 1`).Scan(&orphan.Stripe, &orphan.Link)
	if err == nil {
		orphan.Reason = "rows belong to a link that does not exist"
		return 0, &orphan, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return 0, nil, fmt.Errorf("storage: verify audit: %w", err)
	}
	// A link keeps its records in itself (times, events) since migration
	// 038, in rows of audit_event before.
	rows, err := q.Query(ctx, `
		SELECT l.stripe, l.link, l.count, l.prev, l.mac, l.times, l.events, e.position, e.recorded, coalesce(e.event_json::text, e.event), e.id
		FROM audit_link l LEFT JOIN audit_event e ON e.stripe = l.stripe AND e.link = l.link
		ORDER BY l.stripe, l.link, e.position`)
	if err != nil {
		return 0, nil, fmt.Errorf("storage: verify audit: %w", err)
	}
	defer rows.Close()
	v := verifier{key: key}
	for rows.Next() {
		var r verifyRow
		if err := rows.Scan(&r.stripe, &r.link, &r.count, &r.prev, &r.mac, &r.times, &r.events, &r.position, &r.recorded, &r.event, &r.id); err != nil {
			return v.rows, nil, fmt.Errorf("storage: verify audit: %w", err)
		}
		if b := v.add(r); b != nil {
			return v.rows, b, nil
		}
	}
	if err := rows.Err(); err != nil {
		return v.rows, nil, fmt.Errorf("storage: verify audit: %w", err)
	}
	return v.rows, v.finish(), nil
}

type verifyRow struct {
	stripe    int16
	link      int64
	count     int32
	prev, mac []byte
	times     []time.Time // a link's own records (migration 038)
	events    []string
	position  *int32
	recorded  *time.Time
	event     *string
	id        *string
}

// verifier follows the chains row by row.
type verifier struct {
	key        []byte
	rows       int64
	cur        *verifyRow // the link being read
	m          hash.Hash
	seen       int32
	lastStripe int16
	lastLink   int64
	lastMAC    []byte
	started    bool
}

func (v *verifier) add(r verifyRow) *Break {
	if v.cur == nil || r.stripe != v.cur.stripe || r.link != v.cur.link {
		if b := v.finish(); b != nil {
			return b
		}
		if b := v.open(r); b != nil {
			return b
		}
	}
	if r.events != nil || r.times != nil {
		return v.addOwn(r)
	}
	if r.position == nil {
		return nil // a link without rows: finish says so
	}
	if *r.position != v.seen {
		return &Break{r.stripe, r.link, fmt.Sprintf("row %d is missing or out of place", v.seen)}
	}
	if r.event == nil {
		return &Break{r.stripe, r.link, fmt.Sprintf("row %d holds no event", v.seen)}
	}
	// The id column is the server's copy, outside the MAC: it must name
	// the event the row holds, or a read by id would miss it.
	if r.id != nil && *r.id != eventID([]byte(*r.event)) {
		return &Break{r.stripe, r.link, fmt.Sprintf("row %d's id is not its event's", v.seen)}
	}
	row(v.m, *r.position, *r.recorded, []byte(*r.event))
	v.seen++
	v.rows++
	return nil
}

// addOwn reads the records a link keeps in itself. Each must carry the id
// of its place, and no row of audit_event may claim the link besides.
func (v *verifier) addOwn(r verifyRow) *Break {
	if r.position != nil {
		return &Break{r.stripe, r.link, "rows of audit_event claim a link that holds its own records"}
	}
	if len(r.times) != len(r.events) {
		return &Break{r.stripe, r.link, fmt.Sprintf("it holds %d times for %d records", len(r.times), len(r.events))}
	}
	for i, event := range r.events {
		if eventID([]byte(event)) != PlaceID(r.stripe, r.link, i) {
			return &Break{r.stripe, r.link, fmt.Sprintf("record %d does not carry the id of its place", i)}
		}
		row(v.m, int32(i), r.times[i], []byte(event))
		v.seen++
		v.rows++
	}
	return nil
}

// open starts a link, checking that it follows the one before.
func (v *verifier) open(r verifyRow) *Break {
	first := !v.started || r.stripe != v.lastStripe
	want := v.lastLink + 1
	prev := v.lastMAC
	if first {
		want, prev = 1, make([]byte, sha256.Size)
	}
	if r.link != want {
		return &Break{r.stripe, want, fmt.Sprintf("link %d is missing", want)}
	}
	if !hmac.Equal(r.prev, prev) {
		return &Break{r.stripe, r.link, "it does not follow the link before it"}
	}
	c := r
	v.cur, v.seen, v.started = &c, 0, true
	v.m = hmac.New(sha256.New, v.key)
	header(v.m, r.stripe, r.link, r.prev, int(r.count))
	return nil
}

// finish checks the link being read.
func (v *verifier) finish() *Break {
	c := v.cur
	if c == nil {
		return nil
	}
	v.cur = nil
	if v.seen != c.count {
		return &Break{c.stripe, c.link, fmt.Sprintf("it holds %d rows, not the %d it was written with", v.seen, c.count)}
	}
	if !hmac.Equal(v.m.Sum(nil), c.mac) {
		return &Break{c.stripe, c.link, "its rows are not the ones it was written with"}
	}
	v.lastStripe, v.lastLink, v.lastMAC = c.stripe, c.link, c.mac
	return nil
}
