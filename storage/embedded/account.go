package embedded

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
)

// account is the operating-system user the cluster runs as. PostgreSQL
// refuses to run as root, so a root process runs it as the "postgres" user
// that the distribution's package creates; anyone else runs it as themselves.
type account struct {
	cred *syscall.Credential // nil: the current user
}

func currentAccount() (account, error) {
	if os.Geteuid() != 0 {
		return account{}, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return account{}, fmt.Errorf("running as root, the embedded cluster needs the 'postgres' system user to run PostgreSQL as: %w", err)
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err1 != nil || err2 != nil {
		return account{}, fmt.Errorf("the 'postgres' user has a non-numeric uid or gid")
	}
	return account{cred: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}, nil
}

// command prepares a command that runs as the account and is killed when
// ctx ends.
func (a account) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	if a.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: a.cred}
		cmd.Env = append(os.Environ(), "HOME=/tmp")
	}
	return cmd
}

// own makes path belong to the account, so the server it runs may use it.
func (a account) own(path string) error {
	if a.cred == nil {
		return nil
	}
	return os.Chown(path, int(a.cred.Uid), int(a.cred.Gid))
}

// checkReachable fails clearly when the account cannot walk down to dir, as
// happens when root keeps the data dir under a private (0700) directory.
func (a account) checkReachable(dir string) error {
	p, err := a.unsearchable(dir)
	if err != nil || p == "" {
		return err
	}
	return fmt.Errorf("the 'postgres' user cannot reach %s: %s is not searchable by others (chmod o+x it, or choose another --data-dir)", dir, p)
}

// unsearchable is the first directory on the way down to dir that the
// account may not pass; "" when there is none.
func (a account) unsearchable(dir string) (string, error) {
	if a.cred == nil {
		return "", nil
	}
	for p := dir; ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil {
			return "", err
		}
		if fi.Mode().Perm()&0o001 == 0 {
			st, ok := fi.Sys().(*syscall.Stat_t)
			if !ok || st.Uid != a.cred.Uid {
				return p, nil
			}
		}
		if p == filepath.Dir(p) {
			return "", nil
		}
	}
}
