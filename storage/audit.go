package storage

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/fhirserver/fhirserver/storage/keyring"
)

// AuditKey returns the audit chain's HMAC key, made by the key provider on
// first use and stored only wrapped: the database alone cannot forge a link.
func (s *Store) AuditKey(ctx context.Context, kp keyring.Provider) ([]byte, error) {
	const purpose = "audit chain"
	var kek string
	var wrapped []byte
	latest := func() error {
		return s.pool.QueryRow(ctx, `SELECT kek, wrapped FROM audit_key ORDER BY id DESC LIMIT 1`).Scan(&kek, &wrapped)
	}
	err := latest()
	if errors.Is(err, pgx.ErrNoRows) {
		// The first start makes it; of servers starting together, one wins.
		if _, wrapped, err = kp.NewDataKey(ctx, purpose); err != nil {
			return nil, err
		}
		if _, err = s.pool.Exec(ctx, `INSERT INTO audit_key (id, kek, wrapped) VALUES (1, $1, $2) ON CONFLICT (id) DO NOTHING`, kp.ID(), wrapped); err == nil {
			err = latest()
		}
	}
	if err != nil {
		return nil, fmt.Errorf("storage: audit key: %w", err)
	}
	key, err := kp.Unwrap(ctx, wrapped, purpose)
	if err != nil {
		return nil, fmt.Errorf("storage: the audit key was wrapped by %s, which the configured key provider (%s) cannot unwrap: %w", kek, kp.ID(), err)
	}
	return key, nil
}

// RewrapAuditKey moves the audit key from one key-encryption key to
// another, as a new row (recorded in the admin audit); the chains it
// signed are untouched and verify as before.
func (s *Store) RewrapAuditKey(ctx context.Context, from, to keyring.Provider) error {
	var wrapped []byte
	if err := s.pool.QueryRow(ctx, `SELECT wrapped FROM audit_key ORDER BY id DESC LIMIT 1`).Scan(&wrapped); err != nil {
		return fmt.Errorf("storage: audit key: %w", err)
	}
	next, err := keyring.Rewrap(ctx, from, to, wrapped, "audit chain")
	if err != nil {
		return err
	}
	_, err = s.pool.Exec(ctx, adminAudited(`INSERT INTO audit_key (id, kek, wrapped) SELECT max(id) + 1, $1, $2 FROM audit_key
		RETURNING 'audit-key:' || kek AS target`, "audit-key.rewrap", 2), to.ID(), next, actorOf(ctx))
	if err != nil {
		return fmt.Errorf("storage: rewrap audit key: %w", err)
	}
	return s.rewrapDataKeys(ctx, from, to)
}

// rewrapDataKeys moves every data key (each generation of the field
// encryption key, the blind index key) to the new key-encryption key.
func (s *Store) rewrapDataKeys(ctx context.Context, from, to keyring.Provider) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// A rotation meanwhile would make a generation left behind.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('data_key:' || $1))`, fieldPurpose); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT DISTINCT ON (purpose, generation) purpose, generation, wrapped FROM data_key
			ORDER BY purpose, generation, id DESC`)
		if err != nil {
			return err
		}
		type key struct {
			Purpose    string
			Generation int32
			Wrapped    []byte
		}
		keys, err := pgx.CollectRows(rows, pgx.RowToStructByPos[key])
		if err != nil {
			return err
		}
		for _, k := range keys {
			next, err := keyring.Rewrap(ctx, from, to, k.Wrapped, k.Purpose)
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO data_key (purpose, generation, kek, wrapped) VALUES ($1, $2, $3, $4)`, k.Purpose, k.Generation, to.ID(), next); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("storage: rewrap data keys: %w", err)
	}
	return nil
}

// AuditLog appends audit records in chained links. Each stripe has a
// writer that commits whatever records are waiting as one link, so
// concurrent requests share a commit instead of queueing on a chain head.
type AuditLog struct {
	s       *Store
	key     []byte
	stripes []*auditStripe
	next    uint64
	mu      sync.Mutex
	closed  bool
}

type auditStripe struct {
	n  int16
	in chan *auditRecord
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

type auditRecord struct {
	at    time.Time
	event []byte
	err   chan error
}

const maxAuditBatch = 512

// AuditApplicationName names the audit writers' sessions in
// pg_stat_activity.
const AuditApplicationName = "fhirserver audit"

// AuditStripes is how many chains the server's audit log writes in
// parallel.
const AuditStripes = 4

// OpenAuditLog starts the writers of n stripes from the heads of their
// chains.
func (s *Store) OpenAuditLog(ctx context.Context, key []byte, n int) (*AuditLog, error) {
	a := &AuditLog{s: s, key: key}
	for range n {
		st := &auditStripe{n: -1, in: make(chan *auditRecord, maxAuditBatch), done: make(chan struct{})}
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
	s.audit = a
	return a, nil
}

// connect gives a stripe a connection of its own, outside the pool and
// set up as the pool's are (the fhir_app role) and named in
// pg_stat_activity.
func (a *AuditLog) connect(ctx context.Context, st *auditStripe) error {
	cfg := a.s.pool.Config()
	cc := cfg.ConnConfig.Copy()
	cc.RuntimeParams["application_name"] = AuditApplicationName
	// A request's budget is not the log's: a record cut off fails closed.
	delete(cc.RuntimeParams, "statement_timeout")
	c, err := pgx.ConnectConfig(ctx, cc)
	if err == nil && cfg.AfterConnect != nil {
		if err = cfg.AfterConnect(ctx, c); err != nil {
			_ = c.Close(ctx)
		}
	}
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

func (a *AuditLog) closeConns() {
	for _, st := range a.stripes {
		if st.conn != nil {
			_ = st.conn.Close(context.Background())
		}
	}
}

// loadHead reads the head of a stripe's chain. It reads through the
// stripe's own connection once there is one: it runs while the stripe is
// held, when write transactions waiting for it may hold the pool's.
func (a *AuditLog) loadHead(ctx context.Context, st *auditStripe) error {
	var q querier = a.s.pool
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
func (a *AuditLog) Record(ctx context.Context, event []byte) error {
	r := &auditRecord{at: now(), event: event, err: make(chan error, 1)}
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return errAuditClosed
	}
	st := a.stripes[a.next%uint64(len(a.stripes))]
	a.next++
	st.in <- r
	a.mu.Unlock()
	select {
	case err := <-r.err:
		return err
	case <-ctx.Done():
		// The record may still be written; the request fails either way.
		return ctx.Err()
	}
}

var errAuditClosed = errors.New("storage: the audit log is closed")

// commitWith links event into a stripe's chain inside tx and commits tx:
// the transaction's writes and their audit record are durable together
// or not at all. The stripe's head is held from the insert to the
// commit, a round trip and a flush, and moves only once tx committed.
// When another server took the link, the head is read again and the
// unique violation makes InTx run the whole transaction again.
func (a *AuditLog) commitWith(ctx context.Context, tx pgx.Tx, event []byte) error {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return errAuditClosed
	}
	st := a.stripes[a.next%uint64(len(a.stripes))]
	a.next++
	a.mu.Unlock()
	r := []*auditRecord{{at: now(), event: event}}
	st.mu.Lock()
	defer st.mu.Unlock()
	link := st.link + 1
	mac := linkMAC(a.key, st.n, link, st.mac, r)
	if err := a.insert(ctx, tx, st.n, link, st.mac, mac, r); err != nil {
		if isUniqueViolation(err) {
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
func (a *AuditLog) Close() {
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

func (a *AuditLog) write(st *auditStripe) {
	defer close(st.done)
	defer func() {
		if st.conn != nil {
			_ = st.conn.Close(context.Background())
		}
	}()
	for first := range st.in {
		batch := []*auditRecord{first}
	drain:
		for len(batch) < maxAuditBatch {
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
func (a *AuditLog) commit(st *auditStripe, batch []*auditRecord) error {
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
		mac := linkMAC(a.key, st.n, link, st.mac, batch)
		if err = a.insert(ctx, st.conn, st.n, link, st.mac, mac, batch); err == nil {
			st.link, st.mac = link, mac
			return nil
		}
		if connectionLost(err) {
			_ = st.conn.Close(ctx)
			st.conn = nil
			continue
		}
		if !isUniqueViolation(err) {
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

func (a *AuditLog) insert(ctx context.Context, conn execer, stripe int16, link int64, prev, mac []byte, batch []*auditRecord) error {
	if len(batch) == 1 {
		// The common case when requests do not overlap: no arrays to
		// encode and unnest (a tenth of the record's cost).
		_, err := conn.Exec(ctx, `
			WITH l AS (INSERT INTO audit_link (stripe, link, count, prev, mac) VALUES ($1, $2, 1, $3, $4))
			INSERT INTO audit_event (stripe, link, position, recorded, event) VALUES ($1, $2, 0, $5, $6::json)`,
			stripe, link, prev, mac, batch[0].at, string(batch[0].event))
		return err
	}
	positions, times, events := make([]int32, len(batch)), make([]time.Time, len(batch)), make([]string, len(batch))
	for i, r := range batch {
		positions[i], times[i], events[i] = int32(i), r.at, string(r.event)
	}
	// One statement, so one round trip and one commit: the request waits
	// for exactly this.
	_, err := conn.Exec(ctx, `
		WITH l AS (INSERT INTO audit_link (stripe, link, count, prev, mac) VALUES ($1, $2, $6, $7, $8))
		INSERT INTO audit_event (stripe, link, position, recorded, event)
		SELECT $1, $2, p, r, e::json FROM unnest($3::int[], $4::timestamptz[], $5::text[]) AS x(p, r, e)`,
		stripe, link, positions, times, events, len(batch), prev, mac)
	return err
}

// execer is a connection or a transaction.
type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// linkMAC is the HMAC of a link: its place in the chain, the link before
// it, and each of its rows in order.
func linkMAC(key []byte, stripe int16, link int64, prev []byte, batch []*auditRecord) []byte {
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

// AuditBreak is where a chain stops verifying.
type AuditBreak struct {
	Stripe int16
	Link   int64
	Reason string
}

func (b *AuditBreak) Error() string {
	return fmt.Sprintf("audit chain %d breaks at link %d: %s", b.Stripe, b.Link, b.Reason)
}

// VerifyAudit recomputes every link of every chain from its rows and
// returns the number of rows checked and the first break (nil when the
// chains hold). It reads the log in one pass, in chain order.
func (s *Store) VerifyAudit(ctx context.Context, key []byte) (n int64, b *AuditBreak, err error) {
	// It reads the whole log: a long job, beyond a request's budget.
	err = pgx.BeginTxFunc(ctx, s.pool, unbounded, func(tx pgx.Tx) error {
		n, b, err = verifyAudit(ctx, tx, key)
		return err
	})
	return n, b, err
}

func verifyAudit(ctx context.Context, q querier, key []byte) (int64, *AuditBreak, error) {
	var orphan AuditBreak
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
	rows, err := q.Query(ctx, `
		SELECT l.stripe, l.link, l.count, l.prev, l.mac, e.position, e.recorded, e.event::text
		FROM audit_link l LEFT JOIN audit_event e ON e.stripe = l.stripe AND e.link = l.link
		ORDER BY l.stripe, l.link, e.position`)
	if err != nil {
		return 0, nil, fmt.Errorf("storage: verify audit: %w", err)
	}
	defer rows.Close()
	v := verifier{key: key}
	for rows.Next() {
		var r verifyRow
		if err := rows.Scan(&r.stripe, &r.link, &r.count, &r.prev, &r.mac, &r.position, &r.recorded, &r.event); err != nil {
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
	position  *int32
	recorded  *time.Time
	event     *string
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

func (v *verifier) add(r verifyRow) *AuditBreak {
	if v.cur == nil || r.stripe != v.cur.stripe || r.link != v.cur.link {
		if b := v.finish(); b != nil {
			return b
		}
		if b := v.open(r); b != nil {
			return b
		}
	}
	if r.position == nil {
		return nil // a link without rows: finish says so
	}
	if *r.position != v.seen {
		return &AuditBreak{r.stripe, r.link, fmt.Sprintf("row %d is missing or out of place", v.seen)}
	}
	row(v.m, *r.position, *r.recorded, []byte(*r.event))
	v.seen++
	v.rows++
	return nil
}

// open starts a link, checking that it follows the one before.
func (v *verifier) open(r verifyRow) *AuditBreak {
	first := !v.started || r.stripe != v.lastStripe
	want := v.lastLink + 1
	prev := v.lastMAC
	if first {
		want, prev = 1, make([]byte, sha256.Size)
	}
	if r.link != want {
		return &AuditBreak{r.stripe, want, fmt.Sprintf("link %d is missing", want)}
	}
	if !hmac.Equal(r.prev, prev) {
		return &AuditBreak{r.stripe, r.link, "it does not follow the link before it"}
	}
	c := r
	v.cur, v.seen, v.started = &c, 0, true
	v.m = hmac.New(sha256.New, v.key)
	header(v.m, r.stripe, r.link, r.prev, int(r.count))
	return nil
}

// finish checks the link being read.
func (v *verifier) finish() *AuditBreak {
	c := v.cur
	if c == nil {
		return nil
	}
	v.cur = nil
	if v.seen != c.count {
		return &AuditBreak{c.stripe, c.link, fmt.Sprintf("it holds %d rows, not the %d it was written with", v.seen, c.count)}
	}
	if !hmac.Equal(v.m.Sum(nil), c.mac) {
		return &AuditBreak{c.stripe, c.link, "its rows are not the ones it was written with"}
	}
	v.lastStripe, v.lastLink, v.lastMAC = c.stripe, c.link, c.mac
	return nil
}

// AuditRow is one stored audit record and its place in the log.
type AuditRow struct {
	Recorded time.Time
	Stripe   int16
	Link     int64
	Position int32
	Event    []byte
}

// AuditEvent reads one record by its AuditEvent id; ErrNotFound when none.
func (s *Store) AuditEvent(ctx context.Context, id string) ([]byte, error) {
	var event string
	err := s.pool.QueryRow(ctx, `SELECT event::text FROM audit_event WHERE event->>'id' = $1`, id).Scan(&event)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("storage: audit event: %w", err)
	}
	return []byte(event), nil
}

// AuditQuery selects audit records, newest first.
type AuditQuery struct {
	From, To time.Time // recorded in [From, To); zero: open
	Entities []string  // one of these references among the entities
	AltID    string    // the user
	Action   string
	Outcome  string
	After    *AuditRow // the last row of the previous page
	Limit    int
}

// AuditEvents returns a page of records.
func (s *Store) AuditEvents(ctx context.Context, q AuditQuery) ([]AuditRow, error) {
	where, args := q.where()
	arg := func(v any) string { args = append(args, v); return fmt.Sprintf("$%d", len(args)) }
	sql := `SELECT recorded, stripe, link, position, event::text FROM audit_event` + where +
		" ORDER BY recorded DESC, stripe DESC, link DESC, position DESC LIMIT " + arg(q.Limit)
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("storage: audit events: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (AuditRow, error) {
		var a AuditRow
		var event string
		err := r.Scan(&a.Recorded, &a.Stripe, &a.Link, &a.Position, &event)
		a.Event = []byte(event)
		return a, err
	})
	if err != nil {
		return nil, fmt.Errorf("storage: audit events: %w", err)
	}
	return out, nil
}

// CountAuditEvents counts the records q selects on every page: its After
// and Limit are ignored.
func (s *Store) CountAuditEvents(ctx context.Context, q AuditQuery) (int, error) {
	q.After = nil
	where, args := q.where()
	var n int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM audit_event`+where, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("storage: count audit events: %w", err)
	}
	return n, nil
}

// where is the WHERE clause of q, with its arguments.
func (q AuditQuery) where() (string, []any) {
	var conds []string
	var args []any
	arg := func(v any) string { args = append(args, v); return fmt.Sprintf("$%d", len(args)) }
	if !q.From.IsZero() {
		conds = append(conds, "recorded >= "+arg(q.From))
	}
	if !q.To.IsZero() {
		conds = append(conds, "recorded < "+arg(q.To))
	}
	if len(q.Entities) > 0 {
		conds = append(conds, "EXISTS (SELECT 1 FROM json_array_elements(event->'entity') e WHERE e->'what'->>'reference' = ANY("+arg(q.Entities)+"))")
	}
	if q.AltID != "" {
		conds = append(conds, "EXISTS (SELECT 1 FROM json_array_elements(event->'agent') a WHERE a->>'altId' = "+arg(q.AltID)+")")
	}
	if q.Action != "" {
		conds = append(conds, "event->>'action' = "+arg(q.Action))
	}
	if q.Outcome != "" {
		conds = append(conds, "event->>'outcome' = "+arg(q.Outcome))
	}
	if a := q.After; a != nil {
		conds = append(conds, "(recorded, stripe, link, position) < ("+arg(a.Recorded)+", "+arg(a.Stripe)+", "+arg(a.Link)+", "+arg(a.Position)+")")
	}
	if len(conds) == 0 {
		return "", args
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}
