package scheduling

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/fhirserver/fhirserver/storage"
)

// TelehealthMove is a session's change of state.
type TelehealthMove struct {
	Encounter, Practitioner, Actor, From, To string
}

// AddTelehealthEvent records a move of a session.
func (t *Tx) AddTelehealthEvent(ctx context.Context, m TelehealthMove) error {
	_, err := t.q.Exec(ctx, `INSERT INTO telehealth_event (encounter, practitioner, actor, from_state, to_state) VALUES ($1, nullif($2, ''), $3, nullif($4, ''), $5)`,
		m.Encounter, m.Practitioner, m.Actor, m.From, m.To)
	if err != nil {
		return fmt.Errorf("storage: telehealth event: %w", err)
	}
	return nil
}

// TelehealthState is a session's state now and since when; "" when the
// session has no event.
func (s *Store) TelehealthState(ctx context.Context, encounter string) (string, time.Time, error) {
	var state string
	var at time.Time
	err := s.q.QueryRow(storage.Unrestricted(ctx), `SELECT to_state, at FROM telehealth_event WHERE encounter = $1 ORDER BY id DESC LIMIT 1`, encounter).Scan(&state, &at)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", time.Time{}, nil
	}
	if err != nil {
		return "", time.Time{}, fmt.Errorf("storage: telehealth state: %w", err)
	}
	return state, at, nil
}

// Waiting lists a practitioner's sessions in the waiting room, in order of
// arrival, with when each arrived.
func (s *Store) Waiting(ctx context.Context, practitioner string) ([]WaitingSession, error) {
	rows, err := s.q.Query(storage.Unrestricted(ctx), `
		SELECT encounter, at FROM (
			SELECT DISTINCT ON (encounter) encounter, to_state, at FROM telehealth_event
			WHERE practitioner = $1 ORDER BY encounter, id DESC) last
		WHERE to_state = 'WAITING_ROOM' ORDER BY at, encounter`, practitioner)
	if err != nil {
		return nil, fmt.Errorf("storage: waiting room: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[WaitingSession])
	if err != nil {
		return nil, fmt.Errorf("storage: waiting room: %w", err)
	}
	return out, nil
}

// WaitingSession is a session in a waiting room.
type WaitingSession struct {
	Encounter string
	Since     time.Time
}

// AverageConsultation is how long a practitioner's completed sessions were
// active, on average; 0 when there is none.
func (s *Store) AverageConsultation(ctx context.Context, practitioner string) (time.Duration, error) {
	var secs *float64
	err := s.q.QueryRow(storage.Unrestricted(ctx), `
		SELECT avg(extract(epoch FROM c.at - a.at)) FROM telehealth_event c
		JOIN LATERAL (SELECT at FROM telehealth_event a WHERE a.encounter = c.encounter AND a.to_state = 'ACTIVE' ORDER BY id DESC LIMIT 1) a ON true
		WHERE c.practitioner = $1 AND c.to_state = 'COMPLETED'`, practitioner).Scan(&secs)
	if err != nil {
		return 0, fmt.Errorf("storage: consultation length: %w", err)
	}
	if secs == nil {
		return 0, nil
	}
	return time.Duration(*secs * float64(time.Second)), nil
}

// TelehealthRoom is the video room a session uses.
type TelehealthRoom struct {
	Provider, Room string
}

// CurrentRoom is the session's room in force; storage.ErrNotFound when it has
// none yet.
func (s *Store) CurrentRoom(ctx context.Context, encounter string) (TelehealthRoom, error) {
	var r TelehealthRoom
	err := s.q.QueryRow(storage.Unrestricted(ctx), `SELECT provider, room FROM telehealth_room WHERE encounter = $1 ORDER BY id DESC LIMIT 1`, encounter).Scan(&r.Provider, &r.Room)
	if errors.Is(err, pgx.ErrNoRows) {
		return r, storage.ErrNotFound
	}
	if err != nil {
		return r, fmt.Errorf("storage: telehealth room: %w", err)
	}
	return r, nil
}

// MapRoom puts a room in force for a session (a new row: a failover keeps
// the history of the rooms it had).
func (s *Store) MapRoom(ctx context.Context, encounter string, r TelehealthRoom, reason string) error {
	_, err := s.q.Exec(storage.Unrestricted(ctx), `INSERT INTO telehealth_room (encounter, provider, room, reason) VALUES ($1, $2, $3, nullif($4, ''))`,
		encounter, r.Provider, r.Room, reason)
	if err != nil {
		return fmt.Errorf("storage: telehealth room: %w", err)
	}
	return nil
}

// RecordToken records a video token issued (its id, for whom, until when).
func (s *Store) RecordToken(ctx context.Context, jti, encounter, participant, provider string, expires time.Time) error {
	_, err := s.q.Exec(storage.Unrestricted(ctx), `INSERT INTO telehealth_token (jti, encounter, participant, provider, expires) VALUES ($1, $2, $3, $4, $5)`,
		jti, encounter, participant, provider, expires)
	if err != nil {
		return fmt.Errorf("storage: telehealth token: %w", err)
	}
	return nil
}

// AddQuality stores a technical quality report, apart from clinical
// records.
func (s *Store) AddQuality(ctx context.Context, encounter, kind string, value []byte, by string) error {
	_, err := s.q.Exec(storage.Unrestricted(ctx), `INSERT INTO telehealth_quality (encounter, kind, value, reported_by) VALUES ($1, $2, $3, $4)`,
		encounter, kind, value, by)
	if err != nil {
		return fmt.Errorf("storage: telehealth quality: %w", err)
	}
	return nil
}

// UseToken records a join with a video token and reports whether it was
// the token's first: FIRST for a token this server issued and never saw
// used, REUSE for one seen before, UNKNOWN for one it did not issue. Of
// two joins at once, the unique index lets one be first.
func (s *Store) UseToken(ctx context.Context, jti, room string) (string, error) {
	ctx = storage.Unrestricted(ctx)
	var known bool
	if err := s.q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM telehealth_token WHERE jti = $1)`, jti).Scan(&known); err != nil {
		return "", fmt.Errorf("storage: token use: %w", err)
	}
	kind := "FIRST"
	if !known {
		kind = "UNKNOWN"
	}
	_, err := s.q.Exec(ctx, `INSERT INTO telehealth_token_use (jti, room, kind) VALUES ($1, $2, $3)`, jti, room, kind)
	if kind == "FIRST" && storage.IsUniqueViolation(err) {
		kind = "REUSE"
		_, err = s.q.Exec(ctx, `INSERT INTO telehealth_token_use (jti, room, kind) VALUES ($1, $2, $3)`, jti, room, kind)
	}
	if err != nil {
		return "", fmt.Errorf("storage: token use: %w", err)
	}
	return kind, nil
}
