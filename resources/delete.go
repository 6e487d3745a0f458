package resources

import (
	"context"
	"net/http"

	"github.com/fhirserver/fhirserver/resources/access"
	"github.com/fhirserver/fhirserver/storage"
)

// Delete is DELETE [type]/[id]: it appends a tombstone. Deleting what does
// not exist, or is already deleted, succeeds without a new version.
func (s *Service) Delete(ctx context.Context, c access.Caller, k storage.Key, o Options) (Result, error) {
	if err := c.AllowWrite(k.Type, access.Delete); err != nil {
		return Result{}, err
	}
	ifMatch, err := parseIfMatch(o.IfMatch)
	if err != nil {
		return Result{}, err
	}
	return s.inTx(ctx, c, func(w *work) (Result, error) { return s.delete(ctx, w, k, ifMatch) })
}

func (s *Service) delete(ctx context.Context, w *work, k storage.Key, ifMatch int64) (Result, error) {
	h, err := w.head(ctx, k)
	if err != nil {
		return Result{}, err
	}
	if ifMatch != 0 && h.Version != ifMatch {
		return Result{}, preconditionFailed("If-Match %d is not the current version of %s", ifMatch, k)
	}
	if h.Version == 0 || h.Deleted {
		return Result{Status: http.StatusNoContent}, nil
	}
	v, err := w.write(ctx, k, http.MethodDelete, nil)
	if err != nil {
		return Result{}, err
	}
	return Result{Status: http.StatusNoContent, Version: v}, nil
}

// ConditionalDelete is DELETE [type]?criteria; it deletes at most one match.
func (s *Service) ConditionalDelete(ctx context.Context, c access.Caller, typ string, o Options) (Result, error) {
	if err := c.AllowUnlimited(typ, access.Delete); err != nil {
		return Result{}, err
	}
	return s.inTx(ctx, c, func(w *work) (Result, error) { return s.conditionalDelete(ctx, w, typ, o.Query) })
}

func (s *Service) conditionalDelete(ctx context.Context, w *work, typ, query string) (Result, error) {
	ids, err := w.match(ctx, typ, query)
	if err != nil {
		return Result{}, err
	}
	switch len(ids) {
	case 0:
		return Result{Status: http.StatusNoContent}, nil
	case 1:
		return s.delete(ctx, w, storage.Key{Type: typ, ID: ids[0]}, 0)
	}
	return Result{}, preconditionFailed("the criteria match more than one %s; delete them one by one", typ)
}
