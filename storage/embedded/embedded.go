package embedded

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// superuser is the cluster's bootstrap role; it is reachable only through
// the private socket directory.
const superuser = "postgres"

// maxSocketPath is the longest unix socket path Linux accepts, less the
// terminating NUL.
const maxSocketPath = 107

// Cluster is one process's use of the embedded cluster.
type Cluster struct {
	dir     string // the data dir given to Start, absolute
	home    string // holds the cluster's pg, run and log: dir, or one linked from dir/pg
	bin     string
	acct    account
	users   *flock // held shared while this Cluster is in use
	started bool
	log     *slog.Logger
}

// Start starts the embedded cluster in dataDir, or joins it when another
// process already runs it, and makes sure database dbname exists.
func Start(ctx context.Context, dataDir, dbname string, log *slog.Logger) (*Cluster, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	dir, err := filepath.Abs(dataDir)
	if err != nil {
		return nil, err
	}
	c := &Cluster{dir: dir, log: log}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	gate, err := openLock(filepath.Join(dir, ".lock"))
	if err != nil {
		return nil, err
	}
	defer gate.close()
	if err := gate.lock(ctx, syscall.LOCK_EX); err != nil {
		return nil, fmt.Errorf("waiting for the embedded cluster lock: %w", err)
	}
	defer gate.unlock()
	if err := c.prepare(); err != nil {
		return nil, err
	}

	if c.users, err = openLock(filepath.Join(dir, ".users")); err != nil {
		return nil, err
	}
	if err := c.users.lock(ctx, syscall.LOCK_SH); err != nil {
		c.users.close()
		return nil, err
	}
	if err := c.bringUp(ctx); err != nil {
		c.release()
		return nil, err
	}
	if err := c.ensureDatabase(ctx, dbname); err != nil {
		c.release()
		return nil, err
	}
	return c, nil
}

// prepare finds the binaries and where the cluster lives, and creates the
// directories it needs.
func (c *Cluster) prepare() error {
	acct, err := currentAccount()
	if err != nil {
		return err
	}
	c.acct = acct
	version, _ := os.ReadFile(filepath.Join(c.dir, "pg", "PG_VERSION"))
	if c.bin, err = findBinaries(strings.TrimSpace(string(version))); err != nil {
		return err
	}
	if c.home, err = c.locateHome(); err != nil {
		return err
	}
	if n := len(c.socketDir()) + len("/.s.PGSQL.5432"); n > maxSocketPath {
		return fmt.Errorf("data dir %s is too deep for a unix socket (%d bytes, at most %d): choose a shorter --data-dir", c.dir, n, maxSocketPath)
	}
	for _, d := range []string{c.socketDir(), c.logDir()} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
		if err := acct.own(d); err != nil {
			return err
		}
	}
	return nil
}

// TempDir makes a fresh directory, under the system's temp dir, that the
// cluster's account can reach: a data dir for tests and benchmarks.
func TempDir(pattern string) (string, error) {
	dir, err := os.MkdirTemp("", pattern)
	if err != nil {
		return "", err
	}
	// MkdirTemp makes it 0700; a cluster started by root runs as the
	// postgres account, which must be able to search it.
	if err := os.Chmod(dir, 0o755); err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	return dir, nil
}

func (c *Cluster) pgDir() string     { return filepath.Join(c.home, "pg") }
func (c *Cluster) socketDir() string { return filepath.Join(c.home, "run") }
func (c *Cluster) logDir() string    { return filepath.Join(c.home, "log") }
func (c *Cluster) logFile() string   { return filepath.Join(c.logDir(), "postgres.log") }

// Started reports whether this process started the cluster rather than
// joining one that was already running.
func (c *Cluster) Started() bool { return c.started }

// Dir is the data dir.
func (c *Cluster) Dir() string { return c.dir }

// URL is the connection string of database dbname, through the socket.
func (c *Cluster) URL(dbname string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.User(superuser),
		Path:     "/" + dbname,
		RawQuery: url.Values{"host": {c.socketDir()}, "sslmode": {"disable"}}.Encode(),
	}
	return u.String()
}

// bringUp initialises the cluster on first use and starts it unless it runs.
func (c *Cluster) bringUp(ctx context.Context) error {
	if _, err := os.Stat(filepath.Join(c.pgDir(), "PG_VERSION")); errors.Is(err, os.ErrNotExist) {
		if err := c.initdb(ctx); err != nil {
			return err
		}
	}
	running, err := c.running(ctx)
	if err != nil || running {
		return err
	}
	c.log.Info("starting the embedded PostgreSQL cluster", "dir", c.pgDir())
	if err := c.pgctl(ctx, "start", "-w", "-t", "120", "-l", c.logFile()); err != nil {
		return fmt.Errorf("starting the embedded cluster (see %s): %w", c.logFile(), err)
	}
	c.started = true
	return nil
}

func (c *Cluster) initdb(ctx context.Context) error {
	c.log.Info("creating the embedded PostgreSQL cluster", "dir", c.pgDir())
	_ = os.RemoveAll(c.pgDir()) // a half-made cluster from an interrupted initdb
	if err := os.Mkdir(c.pgDir(), 0o700); err != nil {
		return err
	}
	if err := c.acct.own(c.pgDir()); err != nil {
		return err
	}
	if err := c.run(ctx, "initdb", "-D", c.pgDir(), "-U", superuser, "--auth=trust",
		"--encoding=UTF8", "--no-locale"); err != nil {
		return fmt.Errorf("initdb: %w", err)
	}
	conf := fmt.Sprintf(`
# Written by the embedded default: no TCP, one private socket directory.
listen_addresses = ''
unix_socket_directories = '%s'
unix_socket_permissions = 0700
max_connections = 200
shared_buffers = %dMB
`, strings.ReplaceAll(c.socketDir(), "'", "''"), sharedBuffersMB())
	f, err := os.OpenFile(filepath.Join(c.pgDir(), "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(conf)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func (c *Cluster) pgctl(ctx context.Context, verb string, args ...string) error {
	return c.run(ctx, "pg_ctl", append([]string{verb, "-D", c.pgDir()}, args...)...)
}

// run runs a PostgreSQL binary as the account. Output goes to a file, not a
// pipe: the postmaster that pg_ctl leaves behind would hold a pipe open.
func (c *Cluster) run(ctx context.Context, name string, args ...string) error {
	out, err := os.CreateTemp("", "fhirserver-pg-*.out")
	if err != nil {
		return err
	}
	defer os.Remove(out.Name())
	defer out.Close()
	cmd := c.acct.command(ctx, filepath.Join(c.bin, name), args...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Dir = c.home
	err = cmd.Run()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err != nil {
		text, _ := os.ReadFile(out.Name())
		if msg := strings.TrimSpace(string(bytes.ToValidUTF8(text, nil))); msg != "" {
			return fmt.Errorf("%s: %w: %s", name, err, msg)
		}
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// ensureDatabase creates dbname unless it exists.
func (c *Cluster) ensureDatabase(ctx context.Context, dbname string) error {
	conn, err := pgx.Connect(ctx, c.URL("postgres"))
	if err != nil {
		return fmt.Errorf("connecting to the embedded cluster: %w", err)
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{dbname}.Sanitize())
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42P04" { // duplicate_database
		return nil
	}
	return err
}

// Stop ends this process's use of the cluster, and stops the cluster when no
// other process is using it.
func (c *Cluster) Stop(ctx context.Context) error {
	if c.users == nil {
		return nil
	}
	gate, err := openLock(filepath.Join(c.dir, ".lock"))
	if err != nil {
		return err
	}
	defer gate.close()
	if err := gate.lock(ctx, syscall.LOCK_EX); err != nil {
		return err
	}
	defer gate.unlock()
	c.users.unlock()
	defer c.release()
	if !c.users.try(syscall.LOCK_EX) {
		c.log.Info("leaving the embedded cluster running for its other users")
		return nil
	}
	c.log.Info("stopping the embedded PostgreSQL cluster")
	return c.pgctl(ctx, "stop", "-m", "fast", "-w", "-t", "120")
}

func (c *Cluster) release() {
	if c.users != nil {
		c.users.unlock()
		c.users.close()
		c.users = nil
	}
}

// sharedBuffersMB sizes PostgreSQL's buffer cache at a sixteenth of the
// machine's memory, between the stock 128 MB and 1 GB: with the stock size
// the search index of a million resources (several GB) no longer fits and
// ingest slows several times over, while a private cluster must not take
// the memory of the machine it shares.
func sharedBuffersMB() int {
	return clampBuffers(memTotalMB("/proc/meminfo") / 16)
}

func clampBuffers(mb int) int { return min(max(mb, 128), 1024) }

// memTotalMB reads MemTotal from a meminfo file; 0 when it cannot.
func memTotalMB(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			var kb int
			if _, err := fmt.Sscanf(strings.TrimSpace(rest), "%d kB", &kb); err == nil {
				return kb / 1024
			}
		}
	}
	return 0
}
