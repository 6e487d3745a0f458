package resources

import (
	"context"
	"net/http"

	"github.com/fhirserver/fhirserver/outcome"
	"github.com/fhirserver/fhirserver/profiles"
	"github.com/fhirserver/fhirserver/resources/access"
	"github.com/fhirserver/fhirserver/storage"
)

// Create is POST [type]: the server assigns the id; with If-None-Exist it
// is a conditional create.
func (s *Service) Create(ctx context.Context, c access.Caller, typ string, body []byte, o Options) (Result, error) {
	if err := c.AllowWrite(typ, access.Create); err != nil {
		return Result{}, err
	}
	res, err := s.parseFor(typ, body)
	if err != nil {
		return Result{}, err
	}
	r, err := s.inTx(ctx, c, func(w *work) (Result, error) { return s.create(ctx, w, res, o.IfNone) })
	return r.withWarnings(res), err
}

func (s *Service) create(ctx context.Context, w *work, res *profiles.Resource, ifNoneExist string) (Result, error) {
	if ifNoneExist != "" {
		ids, err := w.match(ctx, res.Type, ifNoneExist)
		if err != nil {
			return Result{}, err
		}
		switch len(ids) {
		case 1:
			v, err := w.tx.Read(ctx, storage.Key{Type: res.Type, ID: ids[0]})
			if err != nil {
				return Result{}, err
			}
			return Result{Status: http.StatusOK, Version: &v, Body: v.Resource}, nil
		case 2:
			return Result{}, preconditionFailed("If-None-Exist matches more than one %s", res.Type)
		}
	}
	k := storage.Key{Type: res.Type, ID: newID()}
	w.heads[k] = storage.Head{}
	v, err := w.write(ctx, k, http.MethodPost, res.Object)
	if err != nil {
		return Result{}, err
	}
	return created(v), nil
}

// parseFor checks a body and that it is a resource of the type in the URL.
func (s *Service) parseFor(typ string, body []byte) (*profiles.Resource, error) {
	res, err := s.parse(body)
	if err != nil {
		return nil, err
	}
	if res.Type != typ {
		return nil, outcome.E(outcome.Invalid, "the body is a %s, the URL names %s", res.Type, typ).At(res.Type + ".resourceType")
	}
	return res, nil
}

func (r Result) withWarnings(res *profiles.Resource) Result {
	if res == nil {
		return r
	}
	for _, w := range res.Warnings {
		r.Warnings = append(r.Warnings, w.Diagnostics+" ("+w.Expression[0]+")")
	}
	return r
}
