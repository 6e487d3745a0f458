package audit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/fhirserver/fhirserver/storage"
)

var _ storage.TxAuditor = (*Log)(nil)

// Log appends audit records in chained links. Each stripe has a
// writer that commits whatever records are waiting as one link, so
// concurrent requests share a commit instead of queueing on a chain head.
type Log struct {
	db      *storage.Store
	key     []byte
	stripes []*stripe
	next    uint64
	mu      sync.Mutex
	closed  bool
}

type stripe struct {
	n  int16
	in chan *record
	// mu guards the head (link, mac): the stripe's writer and the write
	// transactions that link their own record (commitWith) take turns.
	mu   sync.Mutex
	link int64
	mac  []byte
	done chan struct{}
	// conn is the stripe's own connection: a commit never waits for one
	// behind the requests it audits.
	conn *pgx.Conn
}

type record struct {
	at    time.Time
	event []byte
	err   chan error
}

const maxBatch = 512

// ApplicationName names the audit writers' sessions in pg_stat_activity.
const ApplicationName = "fhirserver audit"

// Stripes is how many chains the server's audit log writes in parallel:
// the first takes the records of requests (Record), the others those of
// write transactions (CommitWith).
const Stripes = 4

// Open starts the writers of n stripes from the heads of their chains,
// and makes the log the auditor of the store's write transactions (the
// records of writes link into it inside their transaction).
func (s *Store) Open(ctx context.Context, key []byte, n int) (*Log, error) {
	a := &Log{db: s.db, key: key}
	for range n {
		st := &stripe{n: -1, in: make(chan *record, maxBatch), done: make(chan struct{})}
		err := a.connect(ctx, st)
		if st.conn != nil {
			a.stripes = append(a.stripes, st) // closed below if it failed
		}
		if err != nil {
			a.closeConns()
			return nil, err
		}
	}
	for _, st := range a.stripes {
		go a.write(st)
	}
	s.db.SetTxAuditor(a)
	return a, nil
}

// connect gives a stripe a connection of its own, outside the pool and
// set up as the pool's are (the fhir_app role) and named in
// pg_stat_activity.
func (a *Log) connect(ctx context.Context, st *stripe) error {
	// Without the pool's statement timeout: a request's budget is not the
	// log's, and a record cut off fails closed.
	c, err := a.db.Connect(ctx, ApplicationName)
	if err != nil {
		return fmt.Errorf("storage: audit connection: %w", err)
	}
	if st.n, err = claimStripe(ctx, c, st.n); err != nil {
		_ = c.Close(ctx)
		return err
	}
	st.conn = c
	// A new claim, or a commit whose outcome was lost with the old
	// connection: the head is read again either way.
	return a.loadHead(ctx, st)
}

// stripeLock is the first key of the advisory locks by which a server
// claims its stripes.
const stripeLock = 0x61756474 // "audt"

// maxStripes bounds the stripe numbers of all servers on one database.
const maxStripes = 1024

// claimStripe takes a stripe for the connection's session, the one it had
// (want) when it is free, else the lowest free one: each chain has one
// writing server, so servers sharing a database never race for a link.
// The claim ends with the session; a stripe whose claim was lost for a
// moment and taken by another server still verifies (a race then costs a
// retry, not a break).
func claimStripe(ctx context.Context, c *pgx.Conn, want int16) (int16, error) {
	try := func(n int16) (bool, error) {
		var ok bool
		err := c.QueryRow(ctx, `SELECT pg_try_advisory_lock($1, $2)`, int32(stripeLock), int32(n)).Scan(&ok)
		return ok, err
	}
	if want >= 0 {
		if ok, err := try(want); err != nil || ok {
			return want, err
		}
	}
	for n := int16(0); n < maxStripes; n++ {
		ok, err := try(n)
		if err != nil {
			return 0, fmt.Errorf("storage: claim an audit stripe: %w", err)
		}
		if ok {
			return n, nil
		}
	}
	return 0, fmt.Errorf("storage: all %d audit stripes are claimed by other servers", maxStripes)
}

func (a *Log) closeConns() {
	for _, st := range a.stripes {
		if st.conn != nil {
			_ = st.conn.Close(context.Background())
		}
	}
}

// loadHead reads the head of a stripe's chain. It reads through the
// stripe's own connection once there is one: it runs while the stripe is
// held, when write transactions waiting for it may hold the pool's.
func (a *Log) loadHead(ctx context.Context, st *stripe) error {
	var q storage.Querier = a.db.Querier()
	if st.conn != nil && !st.conn.IsClosed() {
		q = st.conn
	}
	err := q.QueryRow(ctx, `SELECT link, mac FROM audit_link WHERE stripe = $1 ORDER BY link DESC LIMIT 1`, st.n).Scan(&st.link, &st.mac)
	if errors.Is(err, pgx.ErrNoRows) {
		st.link, st.mac = 0, make([]byte, sha256.Size)
		return nil
	}
	if err != nil {
		return fmt.Errorf("storage: audit head: %w", err)
	}
	return nil
}

// Record appends one AuditEvent and returns once it is durable: a caller
// sends nothing that needs auditing before then, and fails if it fails.
//
// Every record goes to the first stripe, whose writer commits whatever
// records wait as one link: one statement and one WAL flush for as many
// requests as arrived during the last commit (group commit). On two cores
// a record's cost is mostly its link's (the statement, the commit's
// flush, the round trip), so one writer making larger links costs less
// CPU per record than several making small ones. Write transactions link
// their records in the other stripes (CommitWith), so a write holding a
// chain head until its commit never holds up the reads' writer.
//
// The log gives the AuditEvent its id, the place it is written at
// (PlaceID), in place of the one it was rendered with.
func (a *Log) Record(ctx context.Context, event []byte) error {
	if !placeable(event) {
		return errUnplaceable
	}
	r := &record{at: storage.Now(), event: event, err: make(chan error, 1)}
	// Queued under a.mu, so that Close never closes the channel a record
	// is being sent on.
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return errClosed
	}
	a.stripes[0].in <- r
	a.mu.Unlock()
	select {
	case err := <-r.err:
		return err
	case <-ctx.Done():
		// The record may still be written; the request fails either way.
		return ctx.Err()
	}
}

var errClosed = errors.New("storage: the audit log is closed")

// pickForWrite is the stripe a write transaction links its record in: the
// stripes after the first in turn (the first when there is no other); a.mu
// held.
func (a *Log) pickForWrite() (*stripe, error) {
	if a.closed {
		return nil, errClosed
	}
	if len(a.stripes) == 1 {
		return a.stripes[0], nil
	}
	st := a.stripes[1+a.next%uint64(len(a.stripes)-1)]
	a.next++
	return st, nil
}

// CommitWith links event into a stripe's chain inside tx and commits tx:
// the transaction's writes and their audit record are durable together
// or not at all. The stripe's head is held from the insert to the
// commit, a round trip and a flush, and moves only once tx committed.
// When another server took the link, the head is read again and the
// unique violation makes InTx run the whole transaction again. It is the
// storage.TxAuditor of the store's write transactions.
func (a *Log) CommitWith(ctx context.Context, tx pgx.Tx, event []byte) error {
	a.mu.Lock()
	st, err := a.pickForWrite()
	a.mu.Unlock()
	if err != nil {
		return err
	}
	if !placeable(event) {
		return errUnplaceable
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	link := st.link + 1
	r := place(st.n, link, []*record{{at: storage.Now(), event: event}})
	mac := linkMAC(a.key, st.n, link, st.mac, r)
	if err := a.insert(ctx, tx, st.n, link, st.mac, mac, r); err != nil {
		if storage.IsUniqueViolation(err) {
			if herr := a.loadHead(ctx, st); herr != nil {
				return herr
			}
		}
		return fmt.Errorf("storage: audit: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		// Whether it committed is unknown: a head left behind meets a
		// unique violation at its next link and is read again then.
		return err
	}
	st.link, st.mac = link, mac
	return nil
}

// Close stops the writers once the records already queued are written.
func (a *Log) Close() {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return
	}
	a.closed = true
	for _, st := range a.stripes {
		close(st.in)
	}
	a.mu.Unlock()
	for _, st := range a.stripes {
		<-st.done
	}
}

func (a *Log) write(st *stripe) {
	defer close(st.done)
	defer func() {
		if st.conn != nil {
			_ = st.conn.Close(context.Background())
		}
	}()
	for first := range st.in {
		batch := []*record{first}
	drain:
		for len(batch) < maxBatch {
			select {
			case r, ok := <-st.in:
				if !ok {
					break drain
				}
				batch = append(batch, r)
			default:
				break drain
			}
		}
		err := a.commit(st, batch)
		for _, r := range batch {
			r.err <- err
		}
	}
}

// commit writes a batch as the stripe's next link. Another server process
// may have taken that link number: then the head is read again and the
// batch goes on top of it.
func (a *Log) commit(st *stripe, batch []*record) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st.mu.Lock()
	defer st.mu.Unlock()
	var err error
	for range 5 {
		if st.conn == nil || st.conn.IsClosed() {
			if err = a.connect(ctx, st); err != nil {
				break
			}
		}
		link := st.link + 1
		placed := place(st.n, link, batch)
		mac := linkMAC(a.key, st.n, link, st.mac, placed)
		if err = a.insert(ctx, st.conn, st.n, link, st.mac, mac, placed); err == nil {
			st.link, st.mac = link, mac
			return nil
		}
		if connectionLost(err) {
			_ = st.conn.Close(ctx)
			st.conn = nil
			continue
		}
		if !storage.IsUniqueViolation(err) {
			break
		}
		if err = a.loadHead(ctx, st); err != nil {
			break
		}
	}
	return fmt.Errorf("storage: audit: %w", err)
}

// connectionLost tells a failed session (network, a FATAL error) from a
// statement the database refused: only the first is worth a new
// connection and another try.
func connectionLost(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Severity == "FATAL" || pgErr.Severity == "PANIC"
	}
	return !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled)
}

// insert writes a link as one row holding its records (migration 038),
// so one round trip, one commit and two index entries a link: the request
// waits for exactly this. The events go in as text, the bytes the MAC
// covers, with no json parse. The link's recorded is its newest record's
// time and first_recorded its oldest's: the bounds a search by date finds
// it by.
func (a *Log) insert(ctx context.Context, conn execer, n int16, link int64, prev, mac []byte, batch []*record) error {
	times, events := make([]time.Time, len(batch)), make([]string, len(batch))
	first, last := batch[0].at, batch[0].at
	for i, r := range batch {
		times[i], events[i] = r.at, string(r.event)
		if r.at.Before(first) {
			first = r.at
		}
		if r.at.After(last) {
			last = r.at
		}
	}
	_, err := conn.Exec(ctx, `
		INSERT INTO audit_link (stripe, link, count, prev, mac, recorded, first_recorded, times, events)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		n, link, len(batch), prev, mac, last, first, times, events)
	return err
}

// eventID is the id of a rendered AuditEvent. Record.JSON writes it
// second, after the resource type, so it is read without a parse; any
// other event is parsed.
func eventID(event []byte) string {
	const prefix = `{"resourceType":"AuditEvent","id":"`
	if rest, ok := bytes.CutPrefix(event, []byte(prefix)); ok {
		if end := bytes.IndexByte(rest, '"'); end >= 0 && bytes.IndexByte(rest[:end], '\\') < 0 {
			return string(rest[:end])
		}
	}
	var ev struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(event, &ev)
	return ev.ID
}

// execer is a connection or a transaction.
type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}
