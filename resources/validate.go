package resources

import (
	"context"

	"github.com/fhirserver/fhirserver/profiles"
	"github.com/fhirserver/fhirserver/storage"
)

// What $validate (operations/validate) needs of the write path besides
// the caller's AllowWrite: how writes check profiles, and whether an
// instance is there to delete.

// Validation is how writes are checked against the profiles they claim
// (SetValidation); $validate checks the same way.
func (s *Service) Validation() profiles.Options { return s.validation }

// Stored reports whether k is stored and current: nil, storage.ErrNotFound
// or storage.ErrGone. It checks no access beyond the database's own
// (row-level security, from ctx): for $validate's mode delete, which the
// caller's right to delete was checked for first.
func (s *Service) Stored(ctx context.Context, k storage.Key) error {
	_, err := s.store.Read(ctx, k)
	return err
}
