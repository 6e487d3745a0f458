package resources

import (
	"context"
	"encoding/json"

	"github.com/fhirserver/fhirserver/outcome"
	"github.com/fhirserver/fhirserver/profiles"
	"github.com/fhirserver/fhirserver/resources/access"
	"github.com/fhirserver/fhirserver/storage"
)

// Txn is an operation's unit of work: rows of its own (Tx) and resource
// versions, committed together or not at all. Every resource it writes is
// validated and indexed like any write.
type Txn struct {
	s      *Service
	w      *work
	caller access.Caller
}

// Transact runs fn in one database transaction for caller.
func (s *Service) Transact(ctx context.Context, c access.Caller, fn func(t *Txn) error) error {
	_, err := s.inTx(ctx, c, func(w *work) (Result, error) {
		return Result{}, fn(&Txn{s: s, w: w, caller: c})
	})
	return err
}

// Tx is the database transaction, for the operation's own tables.
func (t *Txn) Tx() *storage.Tx { return t.w.tx }

// Read returns the current version of k as the transaction sees it.
func (t *Txn) Read(ctx context.Context, k storage.Key) (storage.Version, error) {
	return t.w.tx.Read(ctx, k)
}

// Create writes obj as a new resource with a server-assigned id, as the
// caller.
func (t *Txn) Create(ctx context.Context, obj map[string]any) (*storage.Version, error) {
	res, err := t.check(obj)
	if err != nil {
		return nil, err
	}
	if err := t.caller.AllowWrite(res.Type, access.Create); err != nil {
		return nil, err
	}
	r, err := t.s.create(ctx, t.w, res, "")
	return r.Version, err
}

// Put writes obj as the next version of its type and id (a create when it
// is new), as the caller or, with asServer, as the server itself: an
// operation's own bookkeeping (a Slot that a booking fills), which the
// operation has already authorized.
func (t *Txn) Put(ctx context.Context, obj map[string]any, asServer bool) (*storage.Version, error) {
	res, err := t.check(obj)
	if err != nil {
		return nil, err
	}
	id, _ := obj["id"].(string)
	update := func() (*storage.Version, error) {
		r, err := t.s.update(ctx, t.w, storage.Key{Type: res.Type, ID: id}, res, 0)
		return r.Version, err
	}
	if asServer {
		return asServerDo(t.w, update)
	}
	if err := t.caller.AllowWrite(res.Type, access.Update); err != nil {
		return nil, err
	}
	return update()
}

// asServerDo runs fn with the work's writes authorized as the server's own
// (the client's id kept for the logs): for bookkeeping an operation has
// already authorized.
func asServerDo[T any](w *work, fn func() (T, error)) (T, error) {
	saved := w.caller
	w.caller = access.System(saved.ID)
	defer func() { w.caller = saved }()
	return fn()
}

// check validates a resource the operation built, as a client's would be:
// through its JSON, so that it is read exactly as a body is (numbers as
// json.Number).
func (t *Txn) check(obj map[string]any) (*profiles.Resource, error) {
	body, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	res, err := t.s.parse(body)
	if err != nil {
		return nil, err
	}
	if res.Type == "" {
		return nil, outcome.E(outcome.Internal, "an operation built a resource without a type")
	}
	return res, nil
}
