package embedded

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// clusters is where the clusters of data dirs that the cluster's account
// cannot reach are kept, each in a directory of its own.
var clusters = "/var/lib/fhirserver"

// ownerFile, in such a directory, names the data dir the cluster belongs to.
const ownerFile = "datadir"

// locateHome finds, or on first use chooses, the directory that holds the
// cluster's pg, run and log: the data dir itself, unless the cluster's
// account cannot reach it, as when root keeps it under root's private home.
// Then the cluster lives under clusters, linked from DIR/pg so that every
// later process of this data dir finds it.
func (c *Cluster) locateHome() (string, error) {
	link := filepath.Join(c.dir, "pg")
	if target, err := os.Readlink(link); err == nil {
		return c.linkedHome(link, target)
	}
	unreachable := c.acct.checkReachable(c.dir)
	if unreachable == nil {
		return c.dir, nil
	}
	if _, err := os.Lstat(link); err == nil {
		return "", unreachable // a cluster made in the data dir stays there
	}
	return c.makeHome(unreachable)
}

// linkedHome checks that the cluster DIR/pg links to is this data dir's: a
// copied or moved data dir must not share a cluster or take another's over.
func (c *Cluster) linkedHome(link, target string) (string, error) {
	home := filepath.Dir(target)
	owner, err := os.ReadFile(filepath.Join(home, ownerFile))
	if err != nil {
		return "", fmt.Errorf("%s links to %s, which is not an embedded cluster: %w", link, target, err)
	}
	if o := strings.TrimSpace(string(owner)); !sameDir(o, c.dir) {
		return "", fmt.Errorf("%s links to the cluster of data dir %s: a copied or moved data dir does not take its cluster along (use %[2]s, or remove %[1]s to start afresh)", link, o)
	}
	return home, c.acct.checkReachable(home)
}

func sameDir(a, b string) bool {
	fa, errA := os.Stat(a)
	fb, errB := os.Stat(b)
	return errA == nil && errB == nil && os.SameFile(fa, fb)
}

// makeHome makes a directory for the cluster under clusters that only the
// account may enter, records whose it is, and links it from DIR/pg last, so
// that an interruption leaves no half-made link.
func (c *Cluster) makeHome(unreachable error) (string, error) {
	cannot := func(err error) error {
		return fmt.Errorf("%w; nor can its cluster be kept in %s: %v", unreachable, clusters, err)
	}
	if err := os.Mkdir(clusters, 0o711); err == nil {
		err = os.Chmod(clusters, 0o711) // whatever the umask: the account must enter it
		if err != nil {
			return "", cannot(err)
		}
	} else if !errors.Is(err, os.ErrExist) {
		return "", cannot(err)
	}
	if p, err := c.acct.unsearchable(clusters); err != nil || p != "" {
		return "", fmt.Errorf("%w; nor can it reach %s, where the cluster of such a data dir is kept (%s is not searchable by others)", unreachable, clusters, p)
	}
	home, err := os.MkdirTemp(clusters, "cluster-")
	if err != nil {
		return "", cannot(err)
	}
	err = os.WriteFile(filepath.Join(home, ownerFile), []byte(c.dir+"\n"), 0o600)
	if err == nil {
		err = c.acct.own(home)
	}
	if err == nil {
		err = os.Symlink(filepath.Join(home, "pg"), filepath.Join(c.dir, "pg"))
	}
	if err != nil {
		_ = os.RemoveAll(home)
		return "", cannot(err)
	}
	c.log.Info("the cluster's account cannot reach the data dir, so the cluster is kept elsewhere", "cluster", home, "reason", unreachable)
	return home, nil
}
