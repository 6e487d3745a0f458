package resources

import (
	"context"
	"errors"
	"net/http"
	"regexp"

	"github.com/fhirserver/fhirserver/outcome"
	"github.com/fhirserver/fhirserver/profiles"
	"github.com/fhirserver/fhirserver/resources/access"
	"github.com/fhirserver/fhirserver/storage"
)

var idPattern = regexp.MustCompile(`^[A-Za-z0-9\-.]{1,64}$`)

// ValidID reports whether id is a valid FHIR logical id.
func ValidID(id string) bool { return idPattern.MatchString(id) }

// Update is PUT [type]/[id]; a new id creates the resource (update as
// create). With If-Match, a stale version is refused with 412.
func (s *Service) Update(ctx context.Context, c access.Caller, k storage.Key, body []byte, o Options) (Result, error) {
	if err := c.AllowWrite(k.Type, access.Update); err != nil {
		return Result{}, err
	}
	ifMatch, err := parseIfMatch(o.IfMatch)
	if err != nil {
		return Result{}, err
	}
	res, err := s.parseFor(k.Type, body)
	if err != nil {
		return Result{}, err
	}
	r, err := s.inTx(ctx, c, func(w *work) (Result, error) { return s.update(ctx, w, k, res, ifMatch) })
	return r.withWarnings(res), err
}

// bodyID checks the id in the body against the URL's.
func bodyID(res *profiles.Resource, want string) error {
	id, ok := res.Object["id"].(string)
	switch {
	case !ok:
		return outcome.E(outcome.Invalid, "the resource must carry the id %q of the URL", want).At(res.Type + ".id").WithCode("required")
	case id != want:
		return outcome.E(outcome.Invalid, "the resource id %q does not match the URL's %q", id, want).At(res.Type + ".id")
	}
	return nil
}

func (s *Service) update(ctx context.Context, w *work, k storage.Key, res *profiles.Resource, ifMatch int64) (Result, error) {
	if !ValidID(k.ID) {
		return Result{}, outcome.E(outcome.Invalid, "%q is not a valid resource id", k.ID)
	}
	if err := bodyID(res, k.ID); err != nil {
		return Result{}, err
	}
	h, err := w.head(ctx, k)
	if err != nil {
		return Result{}, err
	}
	if ifMatch != 0 && h.Version != ifMatch {
		return Result{}, preconditionFailed("If-Match %d is not the current version of %s", ifMatch, k)
	}
	if h.Version == 0 && w.caller.Care != nil {
		// Under row-level security a resource of another patient looks
		// absent; creating it anew would collide with what is there.
		if _, err := s.store.Read(storage.Unrestricted(ctx), k); !errors.Is(err, storage.ErrNotFound) {
			return Result{}, outcome.E(outcome.NotFound, "%s is not known", k)
		}
	}
	if h.Version == 0 || h.Deleted {
		// Update as create makes a resource: the token must allow creating.
		if err := w.caller.AllowWrite(k.Type, access.Create); err != nil {
			return Result{}, err
		}
	}
	v, err := w.write(ctx, k, http.MethodPut, res.Object)
	if err != nil {
		return Result{}, err
	}
	if h.Version == 0 {
		return created(v), nil
	}
	return ok(v.Resource, v), nil
}

// ConditionalUpdate is PUT [type]?criteria.
func (s *Service) ConditionalUpdate(ctx context.Context, c access.Caller, typ string, body []byte, o Options) (Result, error) {
	if err := c.AllowUnlimited(typ, access.Update); err != nil {
		return Result{}, err
	}
	ifMatch, err := parseIfMatch(o.IfMatch)
	if err != nil {
		return Result{}, err
	}
	res, err := s.parseFor(typ, body)
	if err != nil {
		return Result{}, err
	}
	r, err := s.inTx(ctx, c, func(w *work) (Result, error) { return s.conditionalUpdate(ctx, w, res, o.Query, ifMatch) })
	return r.withWarnings(res), err
}

func (s *Service) conditionalUpdate(ctx context.Context, w *work, res *profiles.Resource, query string, ifMatch int64) (Result, error) {
	ids, err := w.match(ctx, res.Type, query)
	if err != nil {
		return Result{}, err
	}
	id, hasID := res.Object["id"].(string)
	switch len(ids) {
	case 0:
		if !hasID {
			id = newID()
			res.Object["id"] = id
		}
	case 1:
		if hasID && id != ids[0] {
			return Result{}, outcome.E(outcome.Invalid, "the resource id %q is not the id %q the criteria match", id, ids[0]).At(res.Type + ".id")
		}
		id = ids[0]
		res.Object["id"] = id
	default:
		return Result{}, preconditionFailed("the criteria match more than one %s", res.Type)
	}
	return s.update(ctx, w, storage.Key{Type: res.Type, ID: id}, res, ifMatch)
}
