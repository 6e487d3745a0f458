package storage

import (
	"context"
	"fmt"
)

// LogInbound records a raw transaction, batch or load body before it is
// processed, in a transaction of its own so that the record survives the
// failure of what it describes.
func (s *Store) LogInbound(ctx context.Context, kind, sender string, body []byte) (int64, error) {
	ctx = Unrestricted(ctx) // the server's own record, whoever the request is held to
	var id int64
	body, err := s.cipher.sealBody(ctx, body)
	if err != nil {
		return 0, err
	}
	err = s.pool.QueryRow(ctx, `INSERT INTO inbound_log (kind, sender, body) VALUES ($1, $2, $3) RETURNING id`,
		kind, sender, body).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("storage: log inbound: %w", err)
	}
	return id, nil
}

// LogOutcome appends the outcome of an inbound body: its HTTP status and a
// short summary without PHI.
func (s *Store) LogOutcome(ctx context.Context, id int64, status int, summary string) error {
	ctx = Unrestricted(ctx)
	_, err := s.pool.Exec(ctx, `INSERT INTO inbound_outcome (inbound_id, status, outcome) VALUES ($1, $2, $3)`,
		id, status, summary)
	if err != nil {
		return fmt.Errorf("storage: log outcome: %w", err)
	}
	return nil
}

// InboundEntry is one logged body and its outcome, if any.
type InboundEntry struct {
	ID      int64
	Kind    string
	Sender  string
	Body    []byte
	Status  *int
	Outcome *string
}

// Inbound lists the inbound log, oldest first.
func (s *Store) Inbound(ctx context.Context) ([]InboundEntry, error) {
	rows, err := s.pool.Query(ctx, `SELECT l.id, l.kind, l.sender, l.body, o.status, o.outcome
		FROM inbound_log l LEFT JOIN inbound_outcome o ON o.inbound_id = l.id ORDER BY l.id`)
	if err != nil {
		return nil, fmt.Errorf("storage: inbound: %w", err)
	}
	defer rows.Close()
	var out []InboundEntry
	for rows.Next() {
		var e InboundEntry
		if err := rows.Scan(&e.ID, &e.Kind, &e.Sender, &e.Body, &e.Status, &e.Outcome); err != nil {
			return nil, err
		}
		if e.Body, err = s.cipher.openBody(ctx, e.Body); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}
