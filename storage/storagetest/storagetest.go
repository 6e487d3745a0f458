// Package storagetest gives each test its own migrated PostgreSQL database.
//
// The server comes from DATABASE_URL when set, else from an embedded cluster
// started from the machine's PostgreSQL binaries for the test process. A
// template database is migrated once per process; every New clones it with
// CREATE DATABASE ... TEMPLATE and drops the clone when the test ends, so
// tests may run in parallel.
package storagetest

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/tern/v2/migrate"

	"github.com/fhirserver/fhirserver/storage"
)

var (
	setupOnce sync.Once
	setupErr  error
	adminURL  string // a maintenance database on the test server
	template  string
	prefix    string
	counter   atomic.Int64
	createMu  sync.Mutex // CREATE DATABASE ... TEMPLATE refuses concurrent use of the template
	cleanup   []func()   // run in order when the tests are done
)

// Main wraps testing.M.Run so the embedded cluster, if one was started, is
// stopped and the template dropped when the tests are done.
func Main(m *testing.M) {
	code := m.Run()
	if adminURL != "" && template != "" {
		_ = exec(context.Background(), adminURL, "DROP DATABASE IF EXISTS "+pgx.Identifier{template}.Sanitize())
	}
	for _, f := range cleanup {
		f()
	}
	os.Exit(code)
}

func setup() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	adminURL, setupErr = server(ctx)
	if setupErr != nil {
		return
	}
	prefix = fmt.Sprintf("fhirtest_%d_%d", os.Getpid(), time.Now().UnixNano()%1e6)
	template = prefix + "_tmpl"
	if setupErr = exec(ctx, adminURL, "CREATE DATABASE "+pgx.Identifier{template}.Sanitize()); setupErr != nil {
		return
	}
	setupErr = storage.Migrate(ctx, WithDatabase(adminURL, template))
}

// New returns the connection string of a fresh, migrated database that is
// dropped when t ends. The role it names owns the schema.
func New(t testing.TB) string {
	t.Helper()
	setupOnce.Do(setup) // it names the template
	return scratch(t, " TEMPLATE "+pgx.Identifier{template}.Sanitize())
}

// scratch creates a database (CREATE DATABASE name, then options),
// dropped when t ends, and returns its connection string.
func scratch(t testing.TB, options string) string {
	t.Helper()
	setupOnce.Do(setup)
	if setupErr != nil {
		t.Fatalf("storagetest: no PostgreSQL for tests: %v", setupErr)
	}
	name := fmt.Sprintf("%s_%d", prefix, counter.Add(1))
	createMu.Lock()
	err := exec(context.Background(), adminURL, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()+options)
	createMu.Unlock()
	if err != nil {
		t.Fatalf("storagetest: create database: %v", err)
	}
	t.Cleanup(func() {
		_ = exec(context.Background(), adminURL, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
	})
	return WithDatabase(adminURL, name)
}

// AtMigration returns the connection string of a fresh database that
// holds the schema up to migration version and no further, dropped when t
// ends: a migration's test writes rows as they were before it, then
// storage.Migrate takes the database to the newest schema.
func AtMigration(t testing.TB, version int32) string {
	t.Helper()
	u := scratch(t, "")
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatalf("storagetest: connect: %v", err)
	}
	defer conn.Close(ctx)
	m, err := migrate.NewMigrator(ctx, conn, "schema_version")
	if err == nil {
		_, here, _, _ := runtime.Caller(0)
		err = m.LoadMigrations(os.DirFS(filepath.Join(filepath.Dir(here), "..", "migrations")))
	}
	if err == nil {
		err = m.MigrateTo(ctx, version)
	}
	if err != nil {
		t.Fatalf("storagetest: migrate to %d: %v", version, err)
	}
	return u
}

// Open returns a Store on a fresh database, closed when t ends. A
// benchmark's store has the server's pool size, so that it measures what
// the server would do; a test's stays small, since many run at once.
func Open(t testing.TB) (*storage.Store, string) {
	t.Helper()
	return OpenWith(t, storage.Options{})
}

// OpenWith is Open with the given pool options.
func OpenWith(t testing.TB, opt storage.Options) (*storage.Store, string) {
	t.Helper()
	u := New(t)
	if _, ok := t.(*testing.B); ok {
		opt.MaxConns = storage.ServerMaxConns()
	}
	s, err := storage.Open(context.Background(), u, opt, nil)
	if err != nil {
		t.Fatalf("storagetest: open: %v", err)
	}
	t.Cleanup(s.Close)
	return s, u
}

// WithDatabase returns the connection string u pointed at database name.
func WithDatabase(u, name string) string {
	if strings.HasPrefix(u, "postgres://") || strings.HasPrefix(u, "postgresql://") {
		p, err := url.Parse(u)
		if err == nil {
			p.Path = "/" + name
			return p.String()
		}
	}
	return u + " dbname=" + name
}

func exec(ctx context.Context, u, sql string) error {
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql)
	return err
}
