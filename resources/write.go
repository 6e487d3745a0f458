package resources

import (
	"cmp"
	"context"
	"net/http"
	"strconv"
	"strings"

	"github.com/fhirserver/fhirserver/outcome"
	"github.com/fhirserver/fhirserver/resources/access"
	"github.com/fhirserver/fhirserver/search"
	"github.com/fhirserver/fhirserver/storage"
)

// work is the write path shared by every interaction and by transactions:
// it tracks the current version of what it touches and collects the rows
// to append, which flush writes in one round trip.
type work struct {
	tx     *storage.Tx
	caller access.Caller
	index  *search.Registry
	heads  map[storage.Key]storage.Head
	rows   []storage.Row
	// reach and guarded serve guard: what a patient-limited caller may
	// touch, and the keys whose current version this work wrote (and so
	// checked already).
	reach   func(patient string) storage.Reach
	guarded map[storage.Key]bool
	blind   func(typ, param, system, code string) string // search.Options.Blind
	links   map[string]bool                              // Service.links
	svc     *Service
	// care is the patients a user held to care relationships sees, read
	// once (careRead) by guardCare: what this work writes does not count.
	care     []string
	careRead bool
	// written is every version the work appended: what an operation's
	// audit record names.
	written []storage.Key
}

func (s *Service) newWork(tx *storage.Tx, c access.Caller) *work {
	return &work{tx: tx, caller: c, index: s.search, heads: map[storage.Key]storage.Head{}, reach: s.reach, guarded: map[storage.Key]bool{},
		blind: s.store.BlindToken, links: s.links, svc: s}
}

// prefetch loads the current versions of many keys in one query.
func (w *work) prefetch(ctx context.Context, keys []storage.Key) error {
	var missing []storage.Key
	for _, k := range keys {
		if _, ok := w.heads[k]; !ok {
			missing = append(missing, k)
		}
	}
	heads, err := w.tx.Heads(ctx, missing)
	if err != nil {
		return err
	}
	for _, k := range missing {
		w.heads[k] = heads[k] // the zero Head (version 0) means "never existed"
	}
	return nil
}

func (w *work) head(ctx context.Context, k storage.Key) (storage.Head, error) {
	if err := w.prefetch(ctx, []storage.Key{k}); err != nil {
		return storage.Head{}, err
	}
	return w.heads[k], nil
}

// write stamps obj as the next version of k and queues its row; obj nil
// queues a tombstone.
func (w *work) write(ctx context.Context, k storage.Key, method string, obj map[string]any) (*storage.Version, error) {
	if obj != nil {
		if err := refuseSubsetted(k.Type, obj); err != nil {
			return nil, err
		}
	}
	h := w.heads[k]
	v := &storage.Version{Key: k, Version: h.Version + 1, LastUpdated: w.tx.Now(), Method: method, Deleted: obj == nil}
	row := storage.Row{Key: k, Version: v.Version, Method: method, Deleted: v.Deleted}
	if obj != nil {
		body, err := stamp(obj, k.ID, v.Version, v.LastUpdated)
		if err != nil {
			return nil, err
		}
		v.Resource, row.Resource = body, body
		row.Index = w.index.Extract(k.Type, obj)
	}
	if err := w.guard(ctx, k, method, row, obj); err != nil {
		return nil, err
	}
	if err := w.guardCare(ctx, k, row); err != nil {
		return nil, err
	}
	if err := w.checkType(ctx, k, obj); err != nil {
		return nil, err
	}
	w.rows = append(w.rows, row)
	w.heads[k] = storage.Head{Version: v.Version, Deleted: v.Deleted}
	return v, nil
}

var methodInteraction = map[string]access.Interaction{
	http.MethodPost: access.Create, http.MethodPut: access.Update, http.MethodPatch: access.Patch, http.MethodDelete: access.Delete,
}

// guard holds the writes of a caller limited to one patient to that
// patient's compartment: what it writes must be in it (the patient itself,
// or a resource that points at the patient through a compartment
// parameter) and name no other patient anywhere, and so must the version
// it replaces or deletes be in it.
func (w *work) guard(ctx context.Context, k storage.Key, method string, row storage.Row, obj map[string]any) error {
	p := w.caller.PatientOf(k.Type, methodInteraction[method])
	if p == "" {
		return nil
	}
	if !row.Deleted && !w.inCompartment(k, row.Index, p) {
		return outcome.E(outcome.Forbidden, "the access token is limited to one patient, and this %s would not be in that patient's compartment", k.Type)
	}
	if at := otherPatient(obj, p, k.Type); at != "" {
		return outcome.E(outcome.Forbidden, "the access token is limited to one patient, and this %s refers to another patient", k.Type).At(at)
	}
	if h := w.heads[k]; h.Version > 0 && !h.Deleted && !w.guarded[k] {
		passing, err := w.tx.Passing(ctx, w.reach(p).Clause(), []storage.Version{{Key: k, Version: h.Version}})
		if err != nil {
			return err
		}
		if !passing[k] {
			return outcome.E(outcome.Forbidden, "the access token does not reach %s", k)
		}
	}
	w.guarded[k] = true
	return nil
}

func (w *work) inCompartment(k storage.Key, idx storage.Index, patient string) bool {
	if k.Type == "Patient" {
		return k.ID == patient
	}
	for _, r := range idx.References {
		if w.links[k.Type+" "+r.Param] && r.TargetType != nil && *r.TargetType == "Patient" && r.TargetID != nil && *r.TargetID == patient {
			return true
		}
	}
	return false
}

func (w *work) flush(ctx context.Context) error {
	for _, r := range w.rows {
		w.written = append(w.written, r.Key)
	}
	err := w.tx.Append(ctx, w.rows)
	w.rows = nil
	return err
}

// match runs the criteria of a conditional write inside the transaction,
// under a lock on the criteria so that concurrent conditional writes cannot
// both miss. A conditional interaction searches, so the caller must be
// allowed to.
func (w *work) match(ctx context.Context, typ, query string) ([]string, error) {
	if err := w.caller.AllowUnlimited(typ, access.Search); err != nil {
		return nil, err
	}
	if err := w.tx.Lock(ctx, typ+"?"+query); err != nil {
		return nil, err
	}
	return w.find(ctx, typ, query)
}

// lookup resolves a conditional reference. It takes no lock: it writes
// nothing, and a lock held to commit would serialise every transaction
// that refers to the same practitioner or organization.
func (w *work) lookup(ctx context.Context, typ, query string) ([]string, error) {
	if err := w.caller.AllowUnlimited(typ, access.Search); err != nil {
		return nil, err
	}
	return w.find(ctx, typ, query)
}

func (w *work) find(ctx context.Context, typ, query string) ([]string, error) {
	crit, err := w.index.ParseConditional(typ, query, "", w.blind)
	if err != nil {
		return nil, err
	}
	if err := w.flush(ctx); err != nil {
		return nil, err
	}
	crit.Limit = 2
	return w.tx.Find(ctx, crit)
}

// inTx runs one interaction's writes in a transaction of its own and
// flushes them; the whole of fn runs again if a concurrent writer wins.
func (s *Service) inTx(ctx context.Context, c access.Caller, fn func(w *work) (Result, error)) (Result, error) {
	var r Result
	err := s.store.InTx(ctxDetached(ctx), func(tx *storage.Tx) error {
		w := s.newWork(tx, c)
		var err error
		if r, err = fn(w); err != nil {
			return err
		}
		if err := w.flush(ctx); err != nil {
			return err
		}
		touched := r.Touched()
		if len(touched) == 0 {
			touched = w.written // an operation's writes
		}
		return audit(ctx, tx, cmp.Or(r.Status, http.StatusOK), touched)
	})
	return r, audited(ctx, err)
}

// parseIfMatch reads a weak or strong ETag into a version number; 0 when
// the header is absent.
func parseIfMatch(h string) (int64, error) {
	if h == "" {
		return 0, nil
	}
	s := strings.TrimPrefix(strings.TrimSpace(h), "W/")
	s = strings.Trim(s, `"`)
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < 1 {
		return 0, outcome.E(outcome.Invalid, "If-Match must be an ETag such as W/\"3\"")
	}
	return v, nil
}

func preconditionFailed(format string, args ...any) error {
	return outcome.E(outcome.PreconditionFailed, format, args...)
}

func created(v *storage.Version) Result {
	return Result{Status: http.StatusCreated, Version: v, Body: v.Resource}
}
