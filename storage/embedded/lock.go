package embedded

import (
	"context"
	"errors"
	"os"
	"syscall"
	"time"
)

// flock is an advisory lock on a file. Locks belong to an open file, so two
// opens in one process exclude each other just as two processes do.
type flock struct{ f *os.File }

func openLock(path string) (*flock, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	return &flock{f: f}, nil
}

// lock waits for the lock, polling so that ctx can end the wait.
func (l *flock) lock(ctx context.Context, how int) error {
	for {
		err := syscall.Flock(int(l.f.Fd()), how|syscall.LOCK_NB)
		if err == nil {
			return nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// try takes the lock if it is free now.
func (l *flock) try(how int) bool {
	return syscall.Flock(int(l.f.Fd()), how|syscall.LOCK_NB) == nil
}

func (l *flock) unlock() { _ = syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN) }

func (l *flock) close() { _ = l.f.Close() }
