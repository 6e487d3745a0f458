package resources

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	jsonpatch "github.com/evanphx/json-patch/v5"

	"github.com/fhirserver/fhirserver/outcome"
	"github.com/fhirserver/fhirserver/resources/access"
	"github.com/fhirserver/fhirserver/storage"
)

// A copy in a JSON Patch can double what it copies: unbounded, a kilobyte
// of copies grows a resource to gigabytes while it is applied. So a patch
// holds at most maxPatchOps operations, its copies may add no more than
// the resource already holds (at least minCopyAllowance), and what it
// produces is held to the same limit as a resource sent whole.
const (
	maxPatchOps      = 1000
	minCopyAllowance = 64 << 10
	// defaultMaxResourceBytes is the HTTP layer's default body limit.
	defaultMaxResourceBytes = 64 << 20
)

// SetMaxResourceBytes bounds the resource a patch produces: the HTTP
// layer's body limit, which bounds a resource sent whole. Set it before
// serving; 0 means 64 MiB.
func (s *Service) SetMaxResourceBytes(n int64) { s.maxResourceBytes = n }

// Patch is PATCH [type]/[id] with a JSON Patch (RFC 6902) document. The
// patched resource is checked like any other write and may not change its
// type or id.
func (s *Service) Patch(ctx context.Context, c access.Caller, k storage.Key, doc []byte, o Options) (Result, error) {
	if err := c.AllowWrite(k.Type, access.Patch); err != nil {
		return Result{}, err
	}
	ifMatch, err := parseIfMatch(o.IfMatch)
	if err != nil {
		return Result{}, err
	}
	p, err := decodePatch(doc)
	if err != nil {
		return Result{}, err
	}
	return s.inTx(ctx, c, func(w *work) (Result, error) { return s.patch(ctx, w, k, p, ifMatch) })
}

// decodePatch reads a JSON Patch and refuses, before it touches anything,
// an operation the library would misread or crash on (a test of the whole
// document without a value panics inside it).
func decodePatch(doc []byte) (jsonpatch.Patch, error) {
	p, err := jsonpatch.DecodePatch(doc)
	if err != nil {
		return nil, outcome.E(outcome.Invalid, "the body is not a JSON access.Patch document: %v", err).WithCode("structure")
	}
	if len(p) > maxPatchOps {
		return nil, outcome.E(outcome.TooLarge, "a JSON access.Patch may hold at most %d operations", maxPatchOps)
	}
	for i, op := range p {
		if err := checkOp(op); err != nil {
			return nil, outcome.E(outcome.Invalid, "operation %d of the JSON access.Patch %v", i, err).WithCode("structure")
		}
	}
	return p, nil
}

// opNeeds is what each operation must carry beside its path (RFC 6902 §4).
var opNeeds = map[string]struct{ value, from bool }{
	"add": {value: true}, "replace": {value: true}, "test": {value: true},
	"remove": {}, "move": {from: true}, "copy": {from: true},
}

func checkOp(op jsonpatch.Operation) error {
	need, ok := opNeeds[op.Kind()]
	if !ok {
		return errors.New("has an unknown op")
	}
	if err := checkPointer(op, "path"); err != nil {
		return err
	}
	if need.from {
		if err := checkPointer(op, "from"); err != nil {
			return err
		}
	}
	if _, has := op["value"]; need.value && !has {
		return errors.New("has no value")
	}
	return nil
}

// checkPointer checks that op[field] is a JSON Pointer (RFC 6901): empty,
// or tokens after slashes where ~ only escapes (~0, ~1).
func checkPointer(op jsonpatch.Operation, field string) error {
	raw, has := op[field]
	var s string
	if !has || raw == nil || json.Unmarshal(*raw, &s) != nil {
		return fmt.Errorf("has no %s string", field)
	}
	if s != "" && s[0] != '/' {
		return fmt.Errorf("has a %s that is not a JSON Pointer", field)
	}
	for i := strings.IndexByte(s, '~'); i >= 0; i = strings.IndexByte(s, '~') {
		if i+1 == len(s) || s[i+1] != '0' && s[i+1] != '1' {
			return fmt.Errorf("has a %s with a bad ~ escape", field)
		}
		s = s[i+2:]
	}
	return nil
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
	patched, err := s.applyPatch(p, cur.Resource)
	if err != nil {
		return Result{}, err
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

// applyPatch runs a patch within the limits above.
func (s *Service) applyPatch(p jsonpatch.Patch, cur []byte) ([]byte, error) {
	opts := jsonpatch.NewApplyOptions()
	opts.AccumulatedCopySizeLimit = max(int64(len(cur)), minCopyAllowance)
	patched, err := p.ApplyWithOptions(cur, opts)
	var tooMuch *jsonpatch.AccumulatedCopySizeError
	switch {
	case errors.As(err, &tooMuch):
		return nil, outcome.E(outcome.TooLarge, "the patch copies more than the resource holds")
	case err != nil:
		return nil, outcome.E(outcome.Unprocessable, "the patch cannot be applied: %v", err)
	}
	limit := s.maxResourceBytes
	if limit == 0 {
		limit = defaultMaxResourceBytes
	}
	if int64(len(patched)) > limit {
		return nil, outcome.E(outcome.TooLarge, "the patched resource would be larger than this server accepts (%d bytes)", limit)
	}
	return patched, nil
}
