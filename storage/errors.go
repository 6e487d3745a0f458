package storage

import "errors"

// Sentinels for the conditions callers branch on. Everything else is an
// internal error.
var (
	ErrNotFound = errors.New("storage: not found")
	ErrGone     = errors.New("storage: deleted")
	// ErrConflict means a concurrent writer won: the same version was written
	// twice. InTx retries the whole function when it sees it.
	ErrConflict = errors.New("storage: concurrent write")
	// ErrBusy means retries ran out.
	ErrBusy = errors.New("storage: too many concurrent conflicts")
)
