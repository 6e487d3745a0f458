package resources

import (
	"context"
	"errors"
	"strconv"
	"strings"

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
	if limit, _ := s.limit(c, k.Type, access.VRead); limit != nil {
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
	limit, err := s.limit(c, v.Type, i)
	if err != nil || limit == nil {
		return err
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
// an interaction, or nil when there is none: within its patient's reach,
// and matching one of its narrowed scopes' queries.
func (s *Service) limit(c access.Caller, typ string, i access.Interaction) (storage.KeyClause, error) {
	var parts []storage.KeyClause
	if p := c.PatientOf(typ, i); p != "" {
		parts = append(parts, s.reach(p).Clause())
	}
	if qs := c.FiltersOf(typ, i); len(qs) > 0 {
		var anyOf []storage.KeyClause
		for _, q := range qs {
			cl, err := s.search.ScopeClause(typ, q)
			if err != nil {
				continue // a scope this server cannot apply grants nothing
			}
			anyOf = append(anyOf, cl)
		}
		parts = append(parts, func(arg func(any) string, v string) string {
			if len(anyOf) == 0 {
				return "false"
			}
			ors := make([]string, len(anyOf))
			for i, cl := range anyOf {
				ors[i] = "(" + cl(arg, v) + ")"
			}
			return "(" + strings.Join(ors, " OR ") + ")"
		})
	}
	switch len(parts) {
	case 0:
		return nil, nil
	case 1:
		return parts[0], nil
	}
	return func(arg func(any) string, v string) string {
		return "(" + parts[0](arg, v) + ") AND (" + parts[1](arg, v) + ")"
	}, nil
}

// reach is what a token held to patient may see.
func (s *Service) reach(patient string) storage.Reach {
	return storage.Reach{Patient: patient, Links: s.linkPairs}
}
