package resources

import (
	"context"
	"errors"
	"strconv"

	"github.com/fhirserver/fhirserver/outcome"
	"github.com/fhirserver/fhirserver/resources/access"
	"github.com/fhirserver/fhirserver/storage"
)

// Read is GET [type]/[id]: the current version, 404 if it never existed,
// 410 if it is deleted.
func (s *Service) Read(ctx context.Context, c access.Caller, k storage.Key) (Result, error) {
	if k.Type == access.AuditEventType {
		return s.readAudit(ctx, c, k.ID)
	}
	if c.Self != "" && c.Self == k.Type+"/"+k.ID {
		v, err := s.store.Read(ctx, k)
		if err != nil {
			return Result{}, readError(err, k, &v)
		}
		return ok(v.Resource, &v), nil
	}
	if err := c.Allow(k.Type, access.Read); err != nil {
		return Result{}, err
	}
	v, err := s.store.Read(ctx, k)
	if err != nil {
		return Result{}, readError(err, k, &v)
	}
	if err := s.inReach(ctx, c, access.Read, v); err != nil {
		return Result{}, err
	}
	if err := s.redactGroup(ctx, c, access.Read, &v); err != nil {
		return Result{}, err
	}
	return ok(v.Resource, &v), nil
}

// VRead is GET [type]/[id]/_history/[vid].
func (s *Service) VRead(ctx context.Context, c access.Caller, k storage.Key, vid string) (Result, error) {
	if k.Type == access.AuditEventType {
		return Result{}, outcome.E(outcome.NotSupported, "the audit log keeps one version of each AuditEvent: read it")
	}
	if err := c.Allow(k.Type, access.VRead); err != nil {
		return Result{}, err
	}
	n, err := strconv.ParseInt(vid, 10, 64)
	if err != nil || n < 1 {
		return Result{}, outcome.E(outcome.NotFound, "%s has no version %q", k, vid)
	}
	v, err := s.store.VRead(ctx, k, n)
	if err != nil {
		return Result{}, readError(err, k, &v)
	}
	if limit := s.limit(c, k.Type, access.VRead); limit != nil {
		// A past version is within reach when the current one is.
		cur, err := s.store.Read(ctx, k)
		if err != nil {
			return Result{}, outcome.E(outcome.Forbidden, "%s is outside the patient in context", k)
		}
		if err := s.inReach(ctx, c, access.VRead, cur); err != nil {
			return Result{}, err
		}
	}
	if err := s.redactGroup(ctx, c, access.VRead, &v); err != nil {
		return Result{}, err
	}
	return ok(v.Resource, &v), nil
}

// readError turns the store's sentinels into client errors. A deleted
// resource is Gone, and its tombstone version still gives an ETag.
func readError(err error, k storage.Key, v *storage.Version) error {
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return outcome.E(outcome.NotFound, "%s is not known", k)
	case errors.Is(err, storage.ErrGone):
		return &GoneError{Err: outcome.E(outcome.Gone, "%s was deleted", k), Version: v}
	}
	return err
}

// GoneError is a 410 that carries the tombstone version for headers.
type GoneError struct {
	Err     *outcome.Error
	Version *storage.Version
}

func (g *GoneError) Error() string { return g.Err.Error() }
func (g *GoneError) Unwrap() error { return g.Err }

// inReach refuses a version the caller's limits keep out: outside its
// patient's reach, or matching none of its narrowed scopes.
func (s *Service) inReach(ctx context.Context, c access.Caller, i access.Interaction, v storage.Version) error {
	limit := s.limit(c, v.Type, i)
	if limit == nil {
		return nil
	}
	passing, err := s.store.Passing(ctx, limit, []storage.Version{v})
	if err != nil {
		return err
	}
	if !passing[v.Key] {
		return outcome.E(outcome.Forbidden, "the access token does not reach %s", v.Key)
	}
	return nil
}

// limit is the condition the caller's token puts on resources of typ for
// an interaction (access.Narrowing), or nil when there is none.
func (s *Service) limit(c access.Caller, typ string, i access.Interaction) storage.KeyClause {
	return access.Narrowing{Search: s.search, Links: s.linkPairs}.Clause(typ, c.Decide(typ, i))
}

// reach is what a token held to patient may see.
func (s *Service) reach(patient string) storage.Reach {
	return storage.Reach{Patient: patient, Links: s.linkPairs}
}
