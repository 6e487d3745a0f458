package resources

import (
	"context"
	"errors"
	"strconv"

	"github.com/fhirserver/fhirserver/fhirserver/outcome"
	"github.com/fhirserver/fhirserver/storage"
)

// Read is GET [type]/[id]: the current version, 404 if it never existed,
// 410 if it is deleted.
func (s *Service) Read(ctx context.Context, c Caller, k storage.Key) (Result, error) {
	if err := c.allow(k.Type, Read); err != nil {
		return Result{}, err
	}
	v, err := s.store.Read(ctx, k)
	if err != nil {
		return Result{}, readError(err, k, &v)
	}
	return ok(v.Resource, &v), nil
}

// VRead is GET [type]/[id]/_history/[vid].
func (s *Service) VRead(ctx context.Context, c Caller, k storage.Key, vid string) (Result, error) {
	if err := c.allow(k.Type, VRead); err != nil {
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
