package storage

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// BreakGlass is one emergency access.
type BreakGlass struct {
	ID            int64
	At            time.Time
	Username      string
	FHIRUser      string
	Patient       string
	Justification string
	Purpose       string
	Expires       time.Time
	ReviewTask    string
}

// PutBreakGlass records an emergency access in the transaction that
// makes its review Task: the grant and its review, with the write's audit
// record, commit together or not at all.
func (t *Tx) PutBreakGlass(ctx context.Context, b BreakGlass) (int64, error) {
	var id int64
	err := t.tx.QueryRow(ctx, `
		INSERT INTO break_glass (username, fhir_user, patient, justification, purpose, expires_at, review_task)
		VALUES ($1, nullif($2, ''), $3, $4, $5, $6, $7) RETURNING id`,
		b.Username, b.FHIRUser, b.Patient, b.Justification, b.Purpose, b.Expires, b.ReviewTask).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("storage: break-glass: %w", err)
	}
	return id, nil
}

// BrokenGlass returns the patients a user has emergency access to now.
func (s *Store) BrokenGlass(ctx context.Context, username string) ([]string, error) {
	rows, err := s.pool.Query(Unrestricted(ctx), `SELECT DISTINCT patient FROM break_glass WHERE username = $1 AND expires_at > now() ORDER BY patient`, username)
	if err != nil {
		return nil, fmt.Errorf("storage: break-glass: %w", err)
	}
	ps, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("storage: break-glass: %w", err)
	}
	return ps, nil
}
