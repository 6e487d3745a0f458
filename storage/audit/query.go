package audit

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/fhirserver/fhirserver/storage"
)

// Row is one stored audit record and its place in the log.
type Row struct {
	// Recorded is where the record sorts, newest first: its link's time
	// (its newest record's) since migration 038, its own before.
	Recorded time.Time
	Stripe   int16
	Link     int64
	Position int32
	Event    []byte
}

// Event reads one record by its AuditEvent id; storage.ErrNotFound when
// none.
func (s *Store) Event(ctx context.Context, id string) ([]byte, error) {
	var events []string
	var err error
	if stripe, link, pos, ok := parsePlace(id); ok {
		// The id is the record's place: its link by the primary key.
		events, err = s.events(ctx, `SELECT events[$3] FROM audit_link WHERE stripe = $1 AND link = $2`, stripe, link, pos+1)
	} else {
		// Rows written since migration 035 by their id column, those
		// before by the expression index that covers only them.
		events, err = s.events(ctx, `SELECT `+eventBytes+` FROM audit_event
			WHERE id = $1 OR (event_json IS NOT NULL AND event_json->>'id' = $1)`, id)
	}
	if err != nil {
		return nil, err
	}
	// The id column and the place are outside the event: an event is
	// answered only under the id it holds itself.
	for _, event := range events {
		if eventID([]byte(event)) == id {
			return []byte(event), nil
		}
	}
	return nil, storage.ErrNotFound
}

func (s *Store) events(ctx context.Context, sql string, args ...any) ([]string, error) {
	rows, err := s.q.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("storage: audit event: %w", err)
	}
	found, err := pgx.CollectRows(rows, pgx.RowTo[*string])
	if err != nil {
		return nil, fmt.Errorf("storage: audit event: %w", err)
	}
	// A position past a link's end, or a link written before migration
	// 038, has no event there.
	var events []string
	for _, e := range found {
		if e != nil {
			events = append(events, *e)
		}
	}
	return events, nil
}

// eventBytes is a row's AuditEvent as the chain keeps it: event_json in
// the rows written before migration 035, event (text) since. A row the
// server wrote has one of them; event_json is read first, as Verify reads
// it, so that what is read is what the chain covers.
const eventBytes = `coalesce(event_json::text, event)`

// eventJSON is a record of audit_record as json, for the search's
// conditions.
const eventJSON = `event::json`

// Query selects audit records, newest first (by Row.Recorded): the
// AuditEvent search. It reads audit_record, the records of every link
// whichever way it keeps them (migration 038).
type Query struct {
	From, To time.Time // recorded in [From, To); zero: open
	Entities []string  // one of these references among the entities
	AltID    string    // the user
	Action   string
	Outcome  string
	After    *Row // the last row of the previous page
	Limit    int
}

// Events returns a page of records.
func (s *Store) Events(ctx context.Context, q Query) ([]Row, error) {
	sql, args := q.page()
	rows, err := s.q.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("storage: audit events: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Row, error) {
		var a Row
		var event string
		err := r.Scan(&a.Recorded, &a.Stripe, &a.Link, &a.Position, &event)
		a.Event = []byte(event)
		return a, err
	})
	if err != nil {
		return nil, fmt.Errorf("storage: audit events: %w", err)
	}
	return out, nil
}

// page is the statement of a page of q's records, with its arguments.
func (q Query) page() (string, []any) {
	where, args := q.where()
	limit := fmt.Sprintf("$%d", len(args)+1)
	args = append(args, q.Limit)
	// Each view apart, so that each reads its index in order and stops at
	// the page's end; then the two pages merged.
	const order = " ORDER BY sorted DESC, stripe DESC, link DESC, position DESC LIMIT "
	page := func(view string) string {
		return `(SELECT sorted, stripe, link, position, event FROM ` + view + where + order + limit + `)`
	}
	return `SELECT * FROM (` + page("audit_record_by_row") + ` UNION ALL ` + page("audit_record_by_link") + `) r` + order + limit, args
}

// Count counts the records q selects on every page: its After and Limit
// are ignored.
func (s *Store) Count(ctx context.Context, q Query) (int, error) {
	q.After = nil
	where, args := q.where()
	var n int
	if err := s.q.QueryRow(ctx, `SELECT count(*) FROM audit_record`+where, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("storage: count audit events: %w", err)
	}
	return n, nil
}

// where is the WHERE clause of q, with its arguments.
func (q Query) where() (string, []any) {
	var conds []string
	var args []any
	arg := func(v any) string { args = append(args, v); return fmt.Sprintf("$%d", len(args)) }
	// A link's time is its newest record's and link_first its oldest's:
	// the bounds on them are implied by the record's, and reach the link
	// index.
	if !q.From.IsZero() {
		from := arg(q.From)
		conds = append(conds, "recorded >= "+from, "sorted >= "+from)
	}
	if !q.To.IsZero() {
		to := arg(q.To)
		conds = append(conds, "recorded < "+to, "link_first < "+to)
	}
	if len(q.Entities) > 0 {
		conds = append(conds, "EXISTS (SELECT 1 FROM json_array_elements("+eventJSON+"->'entity') e WHERE e->'what'->>'reference' = ANY("+arg(q.Entities)+"))")
	}
	if q.AltID != "" {
		conds = append(conds, "EXISTS (SELECT 1 FROM json_array_elements("+eventJSON+"->'agent') a WHERE a->>'altId' = "+arg(q.AltID)+")")
	}
	if q.Action != "" {
		conds = append(conds, eventJSON+"->>'action' = "+arg(q.Action))
	}
	if q.Outcome != "" {
		conds = append(conds, eventJSON+"->>'outcome' = "+arg(q.Outcome))
	}
	if a := q.After; a != nil {
		// The first bound alone reaches the link index.
		conds = append(conds, "sorted <= "+arg(a.Recorded))
		conds = append(conds, "(sorted, stripe, link, position) < ("+arg(a.Recorded)+", "+arg(a.Stripe)+", "+arg(a.Link)+", "+arg(a.Position)+")")
	}
	if len(conds) == 0 {
		return "", args
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}
