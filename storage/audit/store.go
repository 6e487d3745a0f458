package audit

import (
	"github.com/fhirserver/fhirserver/storage"
)

// Store is the audit log kept in the server's database: its key, its
// chains and their verification, and the search that exports it.
type Store struct {
	db *storage.Store
	q  storage.Querier
}

// New returns the audit log kept in db.
func New(db *storage.Store) *Store { return &Store{db: db, q: db.Querier()} }
