package embedded

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
)

// dataDir is a fresh data dir the postgres user can reach when tests run as root.
func dataDir(t *testing.T) string {
	t.Helper()
	dir, err := TempDir("embedded-")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

func query(ctx context.Context, url, sql string) (string, error) {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	var s string
	err = conn.QueryRow(ctx, sql).Scan(&s)
	return s, err
}

func TestFirstStartsLaterJoinLastStops(t *testing.T) {
	ctx := context.Background()
	dir := dataDir(t)

	first, err := Start(ctx, dir, "fhir", nil)
	require.NoError(t, err)
	require.True(t, first.Started())
	_, err = query(ctx, first.URL("fhir"), "CREATE TABLE kept AS SELECT 'still here'::text AS v")
	require.ErrorIs(t, err, pgx.ErrNoRows, "CREATE TABLE AS returns no row")

	second, err := Start(ctx, dir, "fhir", nil)
	require.NoError(t, err)
	require.False(t, second.Started(), "a running cluster is joined, not started again")

	require.NoError(t, first.Stop(ctx))
	v, err := query(ctx, second.URL("fhir"), "SELECT v FROM kept")
	require.NoError(t, err, "the cluster keeps running while another user holds it")
	require.Equal(t, "still here", v)

	require.NoError(t, second.Stop(ctx))
	_, err = query(ctx, second.URL("fhir"), "SELECT 1::text")
	require.Error(t, err, "the last user out stops the cluster")

	again, err := Start(ctx, dir, "fhir", nil)
	require.NoError(t, err)
	defer again.Stop(ctx)
	require.True(t, again.Started())
	v, err = query(ctx, again.URL("fhir"), "SELECT v FROM kept")
	require.NoError(t, err)
	require.Equal(t, "still here", v, "data survives a restart")
}

func TestListensOnlyOnItsPrivateSocket(t *testing.T) {
	ctx := context.Background()
	dir := dataDir(t)
	c, err := Start(ctx, dir, "fhir", nil)
	require.NoError(t, err)
	defer c.Stop(ctx)

	listen, err := query(ctx, c.URL("fhir"), "SHOW listen_addresses")
	require.NoError(t, err)
	require.Empty(t, listen, "no TCP listener")
	sockets, err := query(ctx, c.URL("fhir"), "SHOW unix_socket_directories")
	require.NoError(t, err)
	require.Equal(t, filepath.Join(dir, "run"), sockets)
	fi, err := os.Stat(filepath.Join(dir, "run"))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o700), fi.Mode().Perm(), "only the cluster's owner may open the socket")
}

func TestMissingBinariesAreNamed(t *testing.T) {
	t.Setenv("FHIR_PG_BIN", t.TempDir())
	_, err := Start(context.Background(), dataDir(t), "fhir", nil)
	require.ErrorIs(t, err, ErrBinariesMissing)
	require.Contains(t, err.Error(), "initdb")
	require.Contains(t, err.Error(), "FHIR_PG_BIN")
}

func TestRestartsAfterThePostmasterWasKilled(t *testing.T) {
	ctx := context.Background()
	dir := dataDir(t)
	c, err := Start(ctx, dir, "fhir", nil)
	require.NoError(t, err)

	pidFile, err := os.ReadFile(filepath.Join(dir, "pg", "postmaster.pid"))
	require.NoError(t, err)
	pid, err := strconv.Atoi(strings.SplitN(string(pidFile), "\n", 2)[0])
	require.NoError(t, err)
	require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
	for deadline := time.Now().Add(10 * time.Second); syscall.Kill(pid, 0) == nil; {
		require.True(t, time.Now().Before(deadline), "postmaster did not die")
		time.Sleep(20 * time.Millisecond)
	}
	c.release() // as if the process using it had died too

	again, err := Start(ctx, dir, "fhir", nil)
	require.NoError(t, err, "a stale postmaster.pid does not stop a restart")
	defer again.Stop(ctx)
	require.True(t, again.Started())
	v, err := query(ctx, again.URL("fhir"), "SELECT 'up'::text")
	require.NoError(t, err)
	require.Equal(t, "up", v)
}

func TestTooDeepADataDirIsRefused(t *testing.T) {
	deep := filepath.Join(dataDir(t), strings.Repeat("d", 100))
	_, err := Start(context.Background(), deep, "fhir", nil)
	require.Error(t, err)
	require.False(t, errors.Is(err, ErrBinariesMissing))
	require.Contains(t, err.Error(), "too deep")
}

// After a crash and a reboot, postmaster.pid and the socket's lock file may
// name a live process that is not the postmaster, or the dead postmaster may
// linger as a zombie. Neither stops a restart. The processes run as the
// cluster's account: its own processes are the ones PostgreSQL and pg_ctl
// take for a running postmaster.
func TestAStalePidOfAnotherProcessDoesNotStopARestart(t *testing.T) {
	ctx := context.Background()
	dir := dataDir(t)
	c, err := Start(ctx, dir, "fhir", nil)
	require.NoError(t, err)
	lockFiles := []string{filepath.Join(dir, "pg", "postmaster.pid"), filepath.Join(dir, "run", ".s.PGSQL.5432.lock")}
	var contents [][]byte
	for _, f := range lockFiles {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		contents = append(contents, b)
	}
	require.NoError(t, c.Stop(ctx))

	for name, pid := range map[string]int{"a live process": sleeper(t, c.acct), "a zombie": zombie(t, c.acct)} {
		t.Run(name, func(t *testing.T) {
			for i, f := range lockFiles {
				_, rest, _ := strings.Cut(string(contents[i]), "\n")
				require.NoError(t, os.WriteFile(f, []byte(strconv.Itoa(pid)+"\n"+rest), 0o600))
				require.NoError(t, c.acct.own(f))
			}
			again, err := Start(ctx, dir, "fhir", nil)
			require.NoError(t, err, "a stale pid does not stop a restart")
			defer again.Stop(ctx)
			require.True(t, again.Started())
			v, err := query(ctx, again.URL("fhir"), "SELECT 'up'::text")
			require.NoError(t, err)
			require.Equal(t, "up", v)
		})
	}
}

// sleeper is a live process of the account until the test ends.
func sleeper(t *testing.T, acct account) int {
	cmd := acct.command(context.Background(), "sleep", "600")
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd.Process.Pid
}

// zombie is a process of the account that has exited but that nobody reaps
// until the test ends.
func zombie(t *testing.T, acct account) int {
	cmd := acct.command(context.Background(), "true")
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Wait() })
	stat := fmt.Sprintf("/proc/%d/stat", cmd.Process.Pid)
	for deadline := time.Now().Add(10 * time.Second); ; {
		b, err := os.ReadFile(stat)
		require.NoError(t, err)
		if _, after, _ := strings.Cut(string(b), ") "); strings.HasPrefix(after, "Z") {
			return cmd.Process.Pid
		}
		require.True(t, time.Now().Before(deadline), "no zombie")
		time.Sleep(10 * time.Millisecond)
	}
}

// keepClustersIn moves, for one test, where the clusters of data dirs the
// cluster's account cannot reach are kept.
func keepClustersIn(t *testing.T, dir string) {
	old := clusters
	clusters = dir
	t.Cleanup(func() { clusters = old })
}

// As root with the repository under root's private home: the postgres
// account cannot reach the data dir, so the cluster is kept where it can,
// linked from the data dir, for this data dir alone and across restarts.
func TestADataDirUnderAPrivateParent(t *testing.T) {
	ctx := context.Background()
	home := t.TempDir()
	require.NoError(t, os.Chmod(home, 0o700))
	keepClustersIn(t, filepath.Join(dataDir(t), "clusters"))
	dir := filepath.Join(home, "repo", ".data")

	first, err := Start(ctx, dir, "fhir", nil)
	require.NoError(t, err)
	require.True(t, first.Started())
	_, err = query(ctx, first.URL("fhir"), "CREATE TABLE kept AS SELECT 'still here'::text AS v")
	require.ErrorIs(t, err, pgx.ErrNoRows)
	joined, err := Start(ctx, dir, "fhir", nil)
	require.NoError(t, err)
	require.False(t, joined.Started(), "a later user finds the running cluster")
	require.NoError(t, joined.Stop(ctx))
	require.NoError(t, first.Stop(ctx))

	again, err := Start(ctx, dir, "fhir", nil)
	require.NoError(t, err)
	require.True(t, again.Started())
	v, err := query(ctx, again.URL("fhir"), "SELECT v FROM kept")
	require.NoError(t, err)
	require.Equal(t, "still here", v, "data survives a restart")
	require.NoError(t, again.Stop(ctx))

	other, err := Start(ctx, filepath.Join(home, "other"), "fhir", nil)
	require.NoError(t, err)
	defer other.Stop(ctx)
	_, err = query(ctx, other.URL("fhir"), "SELECT v FROM kept")
	require.ErrorContains(t, err, "does not exist", "another data dir has a cluster of its own")
}

// A copy of a data dir whose cluster is kept elsewhere links to the same
// cluster; it is refused rather than shared.
func TestACopiedLinkIsRefused(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("only root runs the cluster as another account")
	}
	ctx := context.Background()
	home := t.TempDir()
	keepClustersIn(t, filepath.Join(dataDir(t), "clusters"))
	dir := filepath.Join(home, ".data")
	c, err := Start(ctx, dir, "fhir", nil)
	require.NoError(t, err)
	require.NoError(t, c.Stop(ctx))
	target, err := os.Readlink(filepath.Join(dir, "pg"))
	require.NoError(t, err, "the data dir links to its cluster")
	fi, err := os.Stat(filepath.Dir(target))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o700), fi.Mode().Perm(), "nobody else reads the cluster's files")
	require.Equal(t, c.acct.cred.Uid, fi.Sys().(*syscall.Stat_t).Uid)

	copied := filepath.Join(home, "copy")
	require.NoError(t, os.Mkdir(copied, 0o755))
	require.NoError(t, os.Symlink(target, filepath.Join(copied, "pg")))
	_, err = Start(ctx, copied, "fhir", nil)
	require.ErrorContains(t, err, "copied")
}

// Where the clusters would be kept is out of the account's reach too: the
// error says why and what to do.
func TestNowhereToKeepTheClusterIsExplained(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("only root runs the cluster as another account")
	}
	home := t.TempDir()
	keepClustersIn(t, filepath.Join(t.TempDir(), "clusters"))
	_, err := Start(context.Background(), filepath.Join(home, ".data"), "fhir", nil)
	require.Error(t, err)
	require.Contains(t, err.Error(), "cannot reach "+filepath.Join(home, ".data"))
	require.Contains(t, err.Error(), "--data-dir")
}
