package scheduling

import "github.com/fhirserver/fhirserver/storage"

// Store is the scheduling and telehealth state read and written on its
// own: status changes, no-show policies, Schedules by actor, the
// telehealth sessions' states, rooms, tokens and quality reports.
type Store struct{ q storage.Querier }

// New returns the scheduling state kept in db.
func New(db *storage.Store) *Store { return &Store{q: db.Querier()} }

// Tx is the scheduling and telehealth state written inside a write
// transaction, so that it commits with the resources it belongs to (a
// booking with its Appointment, a session's move with its Encounter).
type Tx struct {
	tx *storage.Tx
	q  storage.Querier
}

// In is the scheduling state of the write transaction tx.
func In(tx *storage.Tx) *Tx { return &Tx{tx: tx, q: tx.Querier()} }
