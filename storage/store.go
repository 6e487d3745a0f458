package storage

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strconv"
	"time"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Store is the server's PostgreSQL database.
type Store struct {
	pool *pgxpool.Pool
	log  *slog.Logger
	// cipher encrypts high-risk fields at rest; nil: none is encrypted.
	cipher *fieldCipher
	// begin starts a write transaction, with its own statement budget.
	begin pgx.TxOptions
	// protection is what the field cipher encrypts (Protect).
	protection Protection
	// audit is the open audit log (SetTxAuditor), which a transaction that
	// carries a record (Tx.Audit) links its record into before it commits.
	audit TxAuditor
}

// Options tune the pool.
type Options struct {
	MaxConns int32
	// StatementTimeout bounds every statement of the pool (zero: none), so
	// that no search holds the database longer; a statement that runs past
	// it fails with an error TooCostly recognises.
	StatementTimeout time.Duration
	// WriteTimeout is the statement budget inside write transactions, which
	// a large Bundle may need (zero: StatementTimeout's tenfold, at least a
	// minute).
	WriteTimeout time.Duration
}

// writeBudget is the statement timeout of write transactions.
func (o Options) writeBudget() time.Duration {
	if o.WriteTimeout > 0 || o.StatementTimeout == 0 {
		return o.WriteTimeout
	}
	return max(10*o.StatementTimeout, time.Minute)
}

// unbounded starts a read-only transaction without statement timeout, for
// a long job that reads much (verifying the audit log).
var unbounded = pgx.TxOptions{BeginQuery: "BEGIN READ ONLY; SET LOCAL statement_timeout = 0"}

// beginWith starts a transaction that sets its own statement timeout in
// the same round trip as BEGIN.
func beginWith(timeout time.Duration) pgx.TxOptions {
	if timeout <= 0 {
		return pgx.TxOptions{}
	}
	return pgx.TxOptions{BeginQuery: fmt.Sprintf("BEGIN; SET LOCAL statement_timeout = %d", timeout.Milliseconds())}
}

// ServerMaxConns is the pool size the server runs with: eight connections
// a core, at least 16. More backends than the cores can serve only queue
// in the kernel instead of in the pool: on 2 cores, 64 connections gave
// reads at 64 clients a p99 of 37-47 ms, 16 gave 24-28 ms at the same p50
// and throughput (docs/benchmarks.md, issue 18). The audit's writers have
// connections of their own.
func ServerMaxConns() int32 { return int32(max(16, 8*runtime.NumCPU())) }

// Open connects a pool that works as the fhir_app role, so the application
// holds no UPDATE or DELETE privilege on append-only tables.
func Open(ctx context.Context, url string, opt Options, log *slog.Logger) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("storage: parse database url: %w", err)
	}
	if opt.MaxConns > 0 {
		cfg.MaxConns = opt.MaxConns
	}
	// Requests are many and small: a worker pair per query buys a single
	// request little and costs the others their cores, and shipping full
	// resources from workers through tuple queues made a page of
	// $everything slower, not faster (160 ms against 90 ms).
	cfg.ConnConfig.RuntimeParams["max_parallel_workers_per_gather"] = "0"
	if opt.StatementTimeout > 0 {
		// A connection parameter, not a SET per request: no round trip.
		cfg.ConnConfig.RuntimeParams["statement_timeout"] = strconv.FormatInt(opt.StatementTimeout.Milliseconds(), 10)
	}
	cfg.AfterConnect = func(ctx context.Context, c *pgx.Conn) error {
		_, err := c.Exec(ctx, "SET ROLE fhir_app")
		c.PgConn().CustomData()[identityKey] = ""
		return err
	}
	cfg.PrepareConn = prepareConn
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("storage: pool: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("storage: connect: %w", err)
	}
	if log == nil {
		log = slog.Default()
	}
	return &Store{pool: pool, log: log, begin: beginWith(opt.writeBudget())}, nil
}

// Close closes the pool.
func (s *Store) Close() { s.pool.Close() }

// Ready reports an error unless the database answers and every embedded
// migration is applied.
func (s *Store) Ready(ctx context.Context) error {
	var v int32
	if err := s.pool.QueryRow(ctx, "SELECT version FROM "+versionTable).Scan(&v); err != nil {
		return fmt.Errorf("storage: not ready: %w", err)
	}
	if want := LatestMigration(); v != want {
		return fmt.Errorf("storage: schema at migration %d, want %d", v, want)
	}
	return nil
}

const maxAttempts = 8

// InTx runs fn in one database transaction and commits it. When a
// concurrent writer wins a race (the same version written twice, a
// serialization failure or a deadlock), the whole of fn runs again on a
// fresh transaction, so fn must derive everything from what it reads in tx.
func (s *Store) InTx(ctx context.Context, fn func(tx *Tx) error) error {
	// Before the transaction holds a connection: the look for a newer data
	// key may wait for one.
	if err := s.cipher.fresh(ctx); err != nil {
		return err
	}
	for attempt := 1; ; attempt++ {
		err := s.inTxOnce(ctx, fn)
		if !retryable(err) {
			return err
		}
		if attempt == maxAttempts {
			return fmt.Errorf("%w: %w", ErrBusy, err)
		}
		time.Sleep(time.Duration(attempt*attempt) * time.Millisecond)
	}
}

func (s *Store) inTxOnce(ctx context.Context, fn func(tx *Tx) error) error {
	ptx, err := s.pool.BeginTx(ctx, s.begin)
	if err != nil {
		return err
	}
	// After a commit, Rollback does nothing.
	defer func() { _ = ptx.Rollback(context.WithoutCancel(ctx)) }()
	t := &Tx{tx: ptx, now: now(), cipher: s.cipher}
	if err := fn(t); err != nil {
		return err
	}
	if t.event == nil {
		return ptx.Commit(ctx)
	}
	if s.audit == nil {
		return errors.New("storage: a write carries an audit record and no audit log is open")
	}
	return s.audit.CommitWith(ctx, ptx, t.event)
}

// Savepoint runs fn inside a savepoint of the transaction: when fn fails,
// what it wrote is rolled back and the transaction goes on; when it
// succeeds, its writes stay, to commit with the rest.
func (t *Tx) Savepoint(ctx context.Context, fn func(tx *Tx) error) error {
	sp, err := t.tx.Begin(ctx)
	if err != nil {
		return fmt.Errorf("storage: savepoint: %w", err)
	}
	if err := fn(&Tx{tx: sp, now: t.now, cipher: t.cipher, parent: t.root()}); err != nil {
		if rerr := sp.Rollback(ctx); rerr != nil {
			return fmt.Errorf("storage: rollback to savepoint: %w (after %w)", rerr, err)
		}
		return err
	}
	if err := sp.Commit(ctx); err != nil {
		return fmt.Errorf("storage: release savepoint: %w", err)
	}
	return nil
}

// Retryable reports whether err means a concurrent writer won a race, so
// that running the same work again on a fresh transaction may succeed.
func Retryable(err error) bool { return retryable(err) }

func retryable(err error) bool {
	if errors.Is(err, ErrConflict) {
		return true
	}
	var pg *pgconn.PgError
	if !errors.As(err, &pg) {
		return false
	}
	switch pg.Code {
	case pgerrcode.UniqueViolation, pgerrcode.SerializationFailure, pgerrcode.DeadlockDetected:
		return true
	}
	return false
}

// TooCostly reports whether err is a statement cancelled by the
// statement timeout: the request asked for more than the server's budget.
func TooCostly(err error) bool {
	var pg *pgconn.PgError
	return errors.As(err, &pg) && pg.Code == pgerrcode.QueryCanceled
}

// now is the timestamp of a write, at the precision PostgreSQL keeps.
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// Tx is one open write transaction.
type Tx struct {
	tx     pgx.Tx
	now    time.Time
	cipher *fieldCipher
	// parent is the transaction a savepoint belongs to; nil for the
	// transaction itself.
	parent *Tx
	// event is the audit record that commits with the transaction.
	event []byte
}

// Now is the lastUpdated of everything the transaction writes.
func (t *Tx) Now() time.Time { return t.now }

// Audit makes event the audit record of the transaction's writes: it is
// linked into the audit chain inside the transaction, so that the writes
// commit with their record or not at all. A later call replaces it.
func (t *Tx) Audit(event []byte) { t.root().event = event }

func (t *Tx) root() *Tx {
	if t.parent != nil {
		return t.parent
	}
	return t
}

// querier is what both the pool and a transaction offer.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}
