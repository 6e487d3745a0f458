package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/fhirserver/fhirserver/storage"
)

// PutLaunch stores an EHR launch context under the hash of its launch
// value: the value itself, which opens the context, is not kept.
func (s *Store) PutLaunch(ctx context.Context, value string, context json.RawMessage, createdBy string, expires time.Time) error {
	_, err := s.db.Exec(ctx, `INSERT INTO launch_context (signature, context, created_by, expires_at) VALUES ($1, $2, $3, $4)`,
		Hash(value), context, createdBy, expires)
	if err != nil {
		return fmt.Errorf("storage: put launch: %w", err)
	}
	return nil
}

// Launch reads a launch context that is neither used nor expired;
// storage.ErrNotFound otherwise.
func (s *Store) Launch(ctx context.Context, value string) (json.RawMessage, error) {
	var c json.RawMessage
	err := s.db.QueryRow(ctx, `
		SELECT l.context FROM launch_context l
		WHERE l.signature = $1 AND l.expires_at > now()
		  AND NOT EXISTS (SELECT 1 FROM launch_use u WHERE u.signature = l.signature)`, Hash(value)).Scan(&c)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, storage.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("storage: launch: %w", err)
	}
	return c, nil
}

// UseLaunch marks a launch used; storage.ErrConflict when it already was.
func (s *Store) UseLaunch(ctx context.Context, value string) error {
	_, err := s.db.Exec(ctx, `INSERT INTO launch_use (signature) VALUES ($1)`, Hash(value))
	if storage.IsUniqueViolation(err) {
		return storage.ErrConflict
	}
	if err != nil {
		return fmt.Errorf("storage: use launch: %w", err)
	}
	return nil
}
