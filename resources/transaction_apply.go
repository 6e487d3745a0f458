package resources

import (
	"context"
	"encoding/base64"
	"net/http"
	"slices"
	"strings"

	jsonpatch "github.com/evanphx/json-patch/v5"

	"github.com/fhirserver/fhirserver/outcome"
	"github.com/fhirserver/fhirserver/profiles"
	"github.com/fhirserver/fhirserver/resources/access"
	"github.com/fhirserver/fhirserver/storage"
)

// allowEntry checks a Bundle entry: its writes as writes, its reads as
// reads that are not checked resource by resource.
func allowEntry(c access.Caller, e *txEntry) error {
	if e.method == http.MethodGet || e.method == http.MethodHead || e.target.Query != "" || e.ifNone != "" {
		return c.AllowUnlimited(e.target.Type, e.interaction())
	}
	return c.AllowWrite(e.target.Type, e.interaction())
}

// transaction runs every entry in one database transaction: all or nothing.
func (s *Service) transaction(ctx context.Context, c access.Caller, entries []*txEntry, o Options) error {
	seen := map[storage.Key]int{}
	for _, e := range entries {
		if err := allowEntry(c, e); err != nil {
			return err
		}
		if e.method != http.MethodGet && e.method != http.MethodHead && e.target.ID != "" {
			if j, dup := seen[e.target.key()]; dup {
				return outcome.E(outcome.Invalid, "entries %d and %d both change %s", j, e.index, e.target.key()).At(e.path)
			}
			seen[e.target.key()] = e.index
		}
	}
	err := s.store.InTx(ctxDetached(ctx), func(tx *storage.Tx) error {
		w := s.newWork(tx, c)
		if err := s.apply(ctx, w, entries, o); err != nil {
			return err
		}
		if err := s.reads(ctx, w, entries); err != nil {
			return err
		}
		return audit(ctx, tx, http.StatusOK, touchedBy(entries))
	})
	return audited(ctx, err)
}

// touchedBy is what the entries that succeeded wrote or read.
func touchedBy(entries []*txEntry) []storage.Key {
	var keys []storage.Key
	for _, e := range entries {
		if e.err == nil && e.result.Version != nil {
			keys = append(keys, e.result.Version.Key)
		}
	}
	return keys
}

// batch runs each entry on its own; a failure is that entry's answer.
// The entries share one database transaction, each inside a savepoint, so
// that a batch of hundreds costs one commit rather than hundreds; a failed
// entry rolls back alone. An entry that lost a race to a concurrent writer
// runs again after the commit, in a transaction of its own, so that locks
// this batch holds cannot keep it losing.
func (s *Service) batch(ctx context.Context, c access.Caller, entries []*txEntry, o Options) {
	var again []*txEntry
	run := func(tx *storage.Tx, e *txEntry) error {
		w := s.newWork(tx, c)
		if err := s.apply(ctx, w, []*txEntry{e}, o); err != nil {
			return err
		}
		return s.reads(ctx, w, []*txEntry{e})
	}
	err := s.store.InTx(ctxDetached(ctx), func(tx *storage.Tx) error {
		again = again[:0]
		for _, e := range entries {
			if e.err = allowEntry(c, e); e.err != nil {
				continue
			}
			e.err = tx.Savepoint(ctx, func(sp *storage.Tx) error { return run(sp, e) })
			if storage.Retryable(e.err) {
				again = append(again, e)
			}
		}
		return audit(ctx, tx, http.StatusOK, touchedBy(entries))
	})
	err = audited(ctx, err)
	if err != nil {
		// The commit failed: nothing of the batch was written.
		for _, e := range entries {
			if e.err == nil {
				e.result, e.err = Result{}, err
			}
		}
		return
	}
	for _, e := range again {
		e.err = audited(ctx, s.store.InTx(ctxDetached(ctx), func(tx *storage.Tx) error {
			if err := run(tx, e); err != nil {
				return err
			}
			return audit(ctx, tx, http.StatusOK, touchedBy([]*txEntry{e}))
		}))
	}
}

// apply performs the writes of entries in the specification's order. Ids
// are settled before any resource is written, so that references between
// entries (urn:uuid fullUrls, conditional references) can be rewritten.
func (s *Service) apply(ctx context.Context, w *work, entries []*txEntry, o Options) error {
	var keys []storage.Key
	for _, e := range entries {
		e.result, e.err = Result{}, nil
		if e.target.ID != "" {
			keys = append(keys, e.target.key())
		}
	}
	if err := w.prefetch(ctx, keys); err != nil {
		return err
	}
	ordered := sortedByPhase(entries)
	refs := map[string]string{}
	for _, e := range ordered {
		if err := s.settle(ctx, w, e, refs); err != nil {
			return entryError(e, err)
		}
	}
	r := &rewriter{w: w, refs: refs, resolved: map[string]string{}}
	for _, e := range ordered {
		if (e.method == http.MethodPost || e.method == http.MethodPut) && e.result.Status == 0 {
			if err := r.walk(ctx, e.res.Object); err != nil {
				return entryError(e, err)
			}
		}
	}
	w.rows = slices.Grow(w.rows, len(ordered)) // a row an entry, at most
	for _, e := range ordered {
		if err := s.write(ctx, w, e); err != nil {
			return entryError(e, err)
		}
	}
	return w.flush(ctx)
}

// settle runs deletes and decides the id every create and update will get.
func (s *Service) settle(ctx context.Context, w *work, e *txEntry, refs map[string]string) error {
	var err error
	switch {
	case e.method == http.MethodDelete && e.target.Query != "":
		e.result, err = s.conditionalDelete(ctx, w, e.target.Type, e.target.Query)
	case e.method == http.MethodDelete:
		e.result, err = s.delete(ctx, w, e.target.key(), e.ifMatch)
	case e.method == http.MethodPost:
		err = s.settleCreate(ctx, w, e)
	case e.method == http.MethodPut && e.target.Query != "":
		err = s.settleConditionalUpdate(ctx, w, e)
	}
	if err == nil && e.fullURL != "" && e.target.ID != "" {
		refs[e.fullURL] = e.target.Type + "/" + e.target.ID
	}
	return err
}

func (s *Service) settleCreate(ctx context.Context, w *work, e *txEntry) error {
	if e.ifNone != "" {
		ids, err := w.match(ctx, e.target.Type, e.ifNone)
		if err != nil {
			return err
		}
		switch len(ids) {
		case 1:
			e.target.ID = ids[0]
			v, err := w.tx.Read(ctx, e.target.key())
			if err != nil {
				return err
			}
			e.result = Result{Status: http.StatusOK, Version: &v}
			return nil
		case 2:
			return preconditionFailed("ifNoneExist matches more than one %s", e.target.Type)
		}
	}
	e.target.ID = newID()
	w.heads[e.target.key()] = storage.Head{}
	return nil
}

func (s *Service) settleConditionalUpdate(ctx context.Context, w *work, e *txEntry) error {
	ids, err := w.match(ctx, e.target.Type, e.target.Query)
	if err != nil {
		return err
	}
	id, hasID := e.res.Object["id"].(string)
	switch {
	case len(ids) > 1:
		return preconditionFailed("the criteria match more than one %s", e.target.Type)
	case len(ids) == 1 && hasID && id != ids[0]:
		return outcome.E(outcome.Invalid, "the resource id %q is not the id %q the criteria match", id, ids[0])
	case len(ids) == 1:
		id = ids[0]
	case !hasID:
		id = newID()
	}
	e.res.Object["id"] = id
	e.target.ID = id
	return w.prefetch(ctx, []storage.Key{e.target.key()})
}

// write creates, updates or patches; deletes and matched conditional
// creates were answered while settling.
func (s *Service) write(ctx context.Context, w *work, e *txEntry) error {
	if e.result.Status != 0 {
		return nil
	}
	var err error
	switch e.method {
	case http.MethodPost:
		var v *storage.Version
		if v, err = w.write(ctx, e.target.key(), http.MethodPost, e.res.Object); err == nil {
			e.result = created(v)
		}
	case http.MethodPut:
		e.result, err = s.update(ctx, w, e.target.key(), e.res, e.ifMatch)
	case http.MethodPatch:
		err = s.patchEntry(ctx, w, e)
	}
	return err
}

func (s *Service) patchEntry(ctx context.Context, w *work, e *txEntry) error {
	p, err := e.patchDocument()
	if err != nil {
		return err
	}
	e.result, err = s.patch(ctx, w, e.target.key(), p, e.ifMatch)
	return err
}

// patchDocument reads the JSON Patch a PATCH entry carries as a Binary.
func (e *txEntry) patchDocument() (jsonpatch.Patch, error) {
	data, _ := e.body["data"].(string)
	doc, err := base64.StdEncoding.DecodeString(data)
	if err != nil {
		return nil, outcome.E(outcome.Invalid, "the Binary's data is not base64")
	}
	return decodePatch(doc)
}

// reads answers GET and HEAD entries after the writes, inside the same
// transaction, so they see what the Bundle wrote.
func (s *Service) reads(ctx context.Context, w *work, entries []*txEntry) error {
	for _, e := range entries {
		if e.method != http.MethodGet && e.method != http.MethodHead {
			continue
		}
		var v storage.Version
		var err error
		switch {
		case e.target.VID != "":
			err = outcome.E(outcome.NotSupported, "vread is not supported inside a Bundle yet")
		case e.target.ID != "":
			v, err = w.tx.Read(ctx, e.target.key())
		default:
			err = outcome.E(outcome.NotSupported, "search is not supported inside a Bundle yet")
		}
		if err != nil {
			return entryError(e, readError(err, e.target.key(), &v))
		}
		vs := []storage.Version{v}
		if err := s.redactGroups(ctx, w.tx, w.caller, access.Read, vs); err != nil {
			return entryError(e, err)
		}
		v = vs[0]
		e.result = ok(v.Resource, &v)
	}
	return nil
}

// entryError names the failing entry in the first issue.
func entryError(e *txEntry, err error) error {
	oe := outcome.From(err)
	if oe.Kind == outcome.Internal {
		return err
	}
	if len(oe.Issues) > 0 {
		oe.Issues[0].Diagnostics = e.path + ": " + oe.Issues[0].Diagnostics
	}
	return oe
}

// rewriter replaces references to other entries' fullUrls and conditional
// references with the Type/id they settled on.
type rewriter struct {
	w        *work
	refs     map[string]string
	resolved map[string]string
}

func (r *rewriter) walk(ctx context.Context, v any) error {
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			s, isString := val.(string)
			switch {
			case k == "reference" && isString:
				ref, err := r.reference(ctx, s)
				if err != nil {
					return err
				}
				x[k] = ref
			case k == "div" && isString:
				x[k] = r.narrative(s)
			default:
				if err := r.walk(ctx, val); err != nil {
					return err
				}
			}
		}
	case []any:
		for _, item := range x {
			if err := r.walk(ctx, item); err != nil {
				return err
			}
		}
	}
	return nil
}

func (r *rewriter) reference(ctx context.Context, ref string) (string, error) {
	if to, ok := r.refs[ref]; ok {
		return to, nil
	}
	if strings.HasPrefix(ref, "urn:uuid:") || strings.HasPrefix(ref, "urn:oid:") {
		return "", outcome.E(outcome.Invalid, "reference %q names no entry of the Bundle", ref)
	}
	typ, query, conditional := strings.Cut(ref, "?")
	if !conditional || strings.Contains(typ, "/") || !profiles.IsResourceType(typ) {
		return ref, nil
	}
	if to, ok := r.resolved[ref]; ok {
		return to, nil
	}
	ids, err := r.w.lookup(ctx, typ, query)
	if err != nil {
		return "", err
	}
	if len(ids) != 1 {
		return "", preconditionFailed("conditional reference %q matches %s", ref, map[bool]string{true: "nothing", false: "more than one resource"}[len(ids) == 0])
	}
	r.resolved[ref] = typ + "/" + ids[0]
	return r.resolved[ref], nil
}

func (r *rewriter) narrative(div string) string {
	if !strings.Contains(div, "urn:") {
		return div
	}
	for from, to := range r.refs {
		div = strings.ReplaceAll(div, `"`+from+`"`, `"`+to+`"`)
	}
	return div
}
