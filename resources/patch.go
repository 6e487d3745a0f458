package resources

import (
	"context"
	"net/http"

	jsonpatch "github.com/evanphx/json-patch/v5"

	"github.com/fhirserver/fhirserver/fhirserver/outcome"
	"github.com/fhirserver/fhirserver/storage"
)

// Patch is PATCH [type]/[id] with a JSON Patch (RFC 6902) document. The
// patched resource is checked like any other write and may not change its
// type or id.
func (s *Service) Patch(ctx context.Context, c Caller, k storage.Key, doc []byte, o Options) (Result, error) {
	if err := c.allowWrite(k.Type, Patch); err != nil {
		return Result{}, err
	}
	ifMatch, err := parseIfMatch(o.IfMatch)
	if err != nil {
		return Result{}, err
	}
	p, err := jsonpatch.DecodePatch(doc)
	if err != nil {
		return Result{}, outcome.E(outcome.Invalid, "the body is not a JSON Patch document: %v", err).WithCode("structure")
	}
	return s.inTx(ctx, c, func(w *work) (Result, error) { return s.patch(ctx, w, k, p, ifMatch) })
}

func (s *Service) patch(ctx context.Context, w *work, k storage.Key, p jsonpatch.Patch, ifMatch int64) (Result, error) {
	if err := w.flush(ctx); err != nil {
		return Result{}, err
	}
	cur, err := w.tx.Read(ctx, k)
	if err != nil {
		return Result{}, readError(err, k, &cur)
	}
	if ifMatch != 0 && cur.Version != ifMatch {
		return Result{}, preconditionFailed("If-Match %d is not the current version of %s", ifMatch, k)
	}
	patched, err := p.Apply(cur.Resource)
	if err != nil {
		return Result{}, outcome.E(outcome.Unprocessable, "the patch cannot be applied: %v", err)
	}
	res, err := s.parse(patched)
	if err != nil {
		return Result{}, err
	}
	if res.Type != k.Type || res.Object["id"] != k.ID {
		return Result{}, outcome.E(outcome.Unprocessable, "a patch may not change the resource type or id")
	}
	w.heads[k] = storage.Head{Version: cur.Version}
	v, err := w.write(ctx, k, http.MethodPatch, res.Object)
	if err != nil {
		return Result{}, err
	}
	return ok(v.Resource, v).withWarnings(res), nil
}
