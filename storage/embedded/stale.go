package embedded

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// leftoverWait bounds the wait for the processes of a cluster that no longer
// answers: the children of a killed postmaster notice its death and exit.
const leftoverWait = time.Minute

// running tells whether a postmaster serves the cluster. After a crash,
// postmaster.pid may name a postmaster still dying, a zombie, or after a
// reboot another program: only an answer on the socket counts. A cluster
// that does not answer has its lock files cleared once its last processes
// are gone, since PostgreSQL refuses to start over a pid that is alive.
func (c *Cluster) running(ctx context.Context) (bool, error) {
	if _, err := os.Stat(c.pidFile()); errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	up, err := c.answers(ctx)
	if err != nil || up {
		return up, err
	}
	if err := c.awaitLeftovers(ctx); err != nil {
		return false, err
	}
	c.log.Warn("the embedded cluster was not shut down cleanly; PostgreSQL recovers it on start", "dir", c.pgDir())
	for _, f := range []string{c.pidFile(), c.socketLockFile()} {
		if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
			return false, err
		}
	}
	return false, nil
}

func (c *Cluster) pidFile() string        { return filepath.Join(c.pgDir(), "postmaster.pid") }
func (c *Cluster) socketLockFile() string { return filepath.Join(c.socketDir(), ".s.PGSQL.5432.lock") }

// answers tells whether a server accepts connections on the socket, waiting
// while it says it is starting up, recovering or shutting down.
func (c *Cluster) answers(ctx context.Context) (bool, error) {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		err := c.ping(ctx)
		var pgErr *pgconn.PgError
		switch {
		case ctx.Err() != nil:
			return false, ctx.Err()
		case err == nil:
			return true, nil
		case !errors.As(err, &pgErr):
			return false, nil // nothing listens on the socket
		case pgErr.Code != "57P03": // cannot_connect_now
			return true, nil
		case time.Now().After(deadline):
			return false, fmt.Errorf("the embedded cluster does not become ready (see %s): %w", c.logFile(), err)
		}
		sleep(ctx, 100*time.Millisecond)
	}
}

func (c *Cluster) ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.URL("postgres"))
	if err != nil {
		return err
	}
	return conn.Close(ctx)
}

// awaitLeftovers waits until no process of the cluster is left: until then
// they hold its shared memory and PostgreSQL refuses to start.
func (c *Cluster) awaitLeftovers(ctx context.Context) error {
	deadline := time.Now().Add(leftoverWait)
	for {
		pids := c.processes()
		switch {
		case len(pids) == 0:
			return nil
		case ctx.Err() != nil:
			return ctx.Err()
		case time.Now().After(deadline):
			return fmt.Errorf("the embedded cluster does not answer on its socket, yet processes %v still run in %s: stop them (kill %d) and start again",
				pids, c.pgDir(), pids[0])
		}
		sleep(ctx, 50*time.Millisecond)
	}
}

// processes lists the live processes working in the cluster's directory:
// the postmaster and every child it forked. A zombie or a process that is
// exiting has no working directory, and a pid taken over by another program
// works elsewhere. Without /proc the list is empty, and PostgreSQL's own
// check of its shared memory still refuses to start beside leftovers.
func (c *Cluster) processes() []int {
	dir, err := os.Stat(c.pgDir())
	if err != nil {
		return nil
	}
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if cwd, err := os.Stat(filepath.Join("/proc", e.Name(), "cwd")); err == nil && os.SameFile(cwd, dir) {
			pids = append(pids, pid)
		}
	}
	return pids
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
