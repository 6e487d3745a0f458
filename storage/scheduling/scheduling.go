package scheduling

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/fhirserver/fhirserver/storage"
)

// ErrSlotFull is a booking of a slot whose every unit is taken: the
// client lost the slot to another booking (409).
var ErrSlotFull = errors.New("storage: the slot is fully booked")

// AddSlotUnits gives a slot its capacity, each unit created free; units it
// has already are kept.
func (t *Tx) AddSlotUnits(ctx context.Context, slot string, capacity int) error {
	_, err := t.q.Exec(ctx, `
		WITH u AS (
			INSERT INTO slot_unit (slot, unit) SELECT $1, n FROM generate_series(1, $2) AS n
			ON CONFLICT DO NOTHING RETURNING slot, unit)
		INSERT INTO slot_release (slot, unit, gen, reason) SELECT slot, unit, 0, 'created' FROM u`, slot, capacity)
	if err != nil {
		return fmt.Errorf("storage: slot units: %w", err)
	}
	return nil
}

// SlotUse is what a booking left of its slot.
type SlotUse struct {
	Unit int  // the unit booked
	Full bool // no unit of the slot is free now
}

// BookSlot books a free unit of slot for appointment. It locks the slot's
// units (SELECT ... FOR UPDATE), so bookings of one slot queue here and
// the count of free units is exact; ErrSlotFull when none is free. The
// database refuses a second live booking of a unit on its own (migration
// 022), whatever a caller checked first.
func (t *Tx) BookSlot(ctx context.Context, slot, appointment string) (SlotUse, error) {
	rows, err := t.q.Query(ctx, `SELECT unit FROM slot_unit WHERE slot = $1 ORDER BY unit FOR UPDATE`, slot)
	if err != nil {
		return SlotUse{}, fmt.Errorf("storage: book slot: %w", err)
	}
	units, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		return SlotUse{}, fmt.Errorf("storage: book slot: %w", err)
	}
	if len(units) == 0 {
		return SlotUse{}, fmt.Errorf("storage: slot %s has no capacity: %w", slot, storage.ErrNotFound)
	}
	free, err := t.freeUnits(ctx, slot)
	if err != nil {
		return SlotUse{}, err
	}
	if len(free) == 0 {
		return SlotUse{}, ErrSlotFull
	}
	f := free[0]
	if _, err := t.q.Exec(ctx, `INSERT INTO slot_booking (slot, unit, gen, appointment) VALUES ($1, $2, $3, $4)`,
		slot, f.Unit, f.Gen+1, appointment); err != nil {
		if storage.IsUniqueViolation(err) {
			return SlotUse{}, ErrSlotFull
		}
		return SlotUse{}, fmt.Errorf("storage: book slot: %w", err)
	}
	return SlotUse{Unit: int(f.Unit), Full: len(free) == 1}, nil
}

type freeUnit struct {
	Unit, Gen int32 // Gen: the unit's last release
}

// freeUnits are the units whose last booking has been released.
func (t *Tx) freeUnits(ctx context.Context, slot string) ([]freeUnit, error) {
	rows, err := t.q.Query(ctx, `
		SELECT r.unit, max(r.gen) FROM slot_release r WHERE r.slot = $1 GROUP BY r.unit
		HAVING max(r.gen) >= coalesce((SELECT max(b.gen) FROM slot_booking b WHERE b.slot = $1 AND b.unit = r.unit), 0)
		ORDER BY r.unit`, slot)
	if err != nil {
		return nil, fmt.Errorf("storage: free units: %w", err)
	}
	free, err := pgx.CollectRows(rows, pgx.RowToStructByPos[freeUnit])
	if err != nil {
		return nil, fmt.Errorf("storage: free units: %w", err)
	}
	return free, nil
}

// ReleaseAppointment releases every live booking of appointment and
// returns the slots that got a unit back.
func (t *Tx) ReleaseAppointment(ctx context.Context, appointment, reason string) ([]string, error) {
	rows, err := t.q.Query(ctx, `
		INSERT INTO slot_release (slot, unit, gen, reason)
		SELECT b.slot, b.unit, b.gen, $2 FROM slot_booking b
		WHERE b.appointment = $1
		  AND NOT EXISTS (SELECT 1 FROM slot_release r WHERE r.slot = b.slot AND r.unit = b.unit AND r.gen = b.gen)
		RETURNING slot`, appointment, reason)
	if err != nil {
		return nil, fmt.Errorf("storage: release: %w", err)
	}
	slots, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("storage: release: %w", err)
	}
	return slots, nil
}

// AppointmentEvent is one change of an appointment's status.
type AppointmentEvent struct {
	Appointment, Actor, From, To, Reason string
}

// AddAppointmentEvent records a status change.
func (t *Tx) AddAppointmentEvent(ctx context.Context, e AppointmentEvent) error {
	_, err := t.q.Exec(ctx, `INSERT INTO appointment_event (appointment, actor, from_status, to_status, reason)
		VALUES ($1, $2, nullif($3, ''), $4, nullif($5, ''))`, e.Appointment, e.Actor, e.From, e.To, e.Reason)
	if err != nil {
		return fmt.Errorf("storage: appointment event: %w", err)
	}
	return nil
}

// AddAvailability records a practitioner's weekly pattern (rules as JSON);
// the newest is in force.
func (t *Tx) AddAvailability(ctx context.Context, practitioner, tz, location string, rules []byte, actor string) error {
	_, err := t.q.Exec(ctx, `INSERT INTO availability (practitioner, tz, rules, actor, location) VALUES ($1, $2, $3, $4, nullif($5, ''))`, practitioner, tz, rules, actor, location)
	if err != nil {
		return fmt.Errorf("storage: availability: %w", err)
	}
	return nil
}

// Availability is the pattern in force for a practitioner (its zone, the
// Location it is at, the rules); storage.ErrNotFound when none was ever set.
func (t *Tx) Availability(ctx context.Context, practitioner string) (tz, location string, rules []byte, err error) {
	err = t.q.QueryRow(ctx, `SELECT tz, coalesce(location, ''), rules FROM availability WHERE practitioner = $1 ORDER BY id DESC LIMIT 1`, practitioner).Scan(&tz, &location, &rules)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", "", nil, storage.ErrNotFound
	}
	if err != nil {
		return "", "", nil, fmt.Errorf("storage: availability: %w", err)
	}
	return tz, location, rules, nil
}

// Block is time a practitioner is not available.
type Block struct {
	Start, End time.Time
	Reason     string
}

// AddBlock records time off.
func (t *Tx) AddBlock(ctx context.Context, practitioner string, b Block, actor string) error {
	_, err := t.q.Exec(ctx, `INSERT INTO availability_override (practitioner, starts, ends, reason, actor) VALUES ($1, $2, $3, $4, $5)`,
		practitioner, b.Start, b.End, b.Reason, actor)
	if err != nil {
		return fmt.Errorf("storage: availability block: %w", err)
	}
	return nil
}

// Blocks are the practitioner's time off that ends after from.
func (t *Tx) Blocks(ctx context.Context, practitioner string, from time.Time) ([]Block, error) {
	rows, err := t.q.Query(ctx, `SELECT starts, ends, reason FROM availability_override WHERE practitioner = $1 AND ends > $2 ORDER BY starts`, practitioner, from)
	if err != nil {
		return nil, fmt.Errorf("storage: availability blocks: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[Block])
	if err != nil {
		return nil, fmt.Errorf("storage: availability blocks: %w", err)
	}
	return out, nil
}

// SlotsWithPrefix lists the slots with capacity whose ids start with
// prefix, with their free units.
func (t *Tx) SlotsWithPrefix(ctx context.Context, prefix string) (map[string]SlotState, error) {
	rows, err := t.q.Query(ctx, `
		SELECT u.slot, count(*)::int,
		       count(*) FILTER (WHERE (SELECT max(r.gen) FROM slot_release r WHERE r.slot = u.slot AND r.unit = u.unit)
		                             >= coalesce((SELECT max(b.gen) FROM slot_booking b WHERE b.slot = u.slot AND b.unit = u.unit), 0))::int
		FROM slot_unit u WHERE u.slot LIKE $1 || '%' GROUP BY u.slot`, prefix)
	if err != nil {
		return nil, fmt.Errorf("storage: slots: %w", err)
	}
	defer rows.Close()
	out := map[string]SlotState{}
	for rows.Next() {
		var id string
		var st SlotState
		if err := rows.Scan(&id, &st.Units, &st.Free); err != nil {
			return nil, fmt.Errorf("storage: slots: %w", err)
		}
		out[id] = st
	}
	return out, rows.Err()
}

// SchedulesWithActors lists the current Schedules that have every one of
// actors (Type/id) among theirs, as the caller may see them. It starts
// from the first actor's index rows: a slot search chained through
// schedule.actor checks every free slot instead.
func (s *Store) SchedulesWithActors(ctx context.Context, actors []string) ([]string, error) {
	var types, ids []string
	for _, a := range actors {
		typ, id, _ := strings.Cut(a, "/")
		types, ids = append(types, typ), append(ids, id)
	}
	rows, err := s.q.Query(ctx, `
		SELECT DISTINCT r.id FROM search_reference r
		JOIN resource_version v ON v.type = r.type AND v.id = r.id AND v.version = r.version
		WHERE r.type = 'Schedule' AND r.param = 'actor' AND r.target_id = ($2::text[])[1] AND r.target_type = ($1::text[])[1] AND NOT v.deleted
		  AND NOT EXISTS (SELECT 1 FROM resource_version n WHERE n.type = v.type AND n.id = v.id AND n.version > v.version)
		  AND NOT EXISTS (SELECT 1 FROM unnest($1::text[], $2::text[]) AS a(typ, id) WHERE NOT EXISTS (
		      SELECT 1 FROM search_reference o WHERE o.type = r.type AND o.id = r.id AND o.version = r.version
		        AND o.param = 'actor' AND o.target_id = a.id AND o.target_type = a.typ))
		ORDER BY r.id`, types, ids)
	if err != nil {
		return nil, fmt.Errorf("storage: schedules: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("storage: schedules: %w", err)
	}
	return out, nil
}

// SlotState is a slot's capacity and how much of it is free.
type SlotState struct {
	Units, Free int
}

// LockSlot locks a slot's units (SELECT ... FOR UPDATE) for the rest of
// the transaction and returns its state: no booking can change it until
// the transaction ends.
func (t *Tx) LockSlot(ctx context.Context, slot string) (SlotState, error) {
	if _, err := t.q.Exec(ctx, `SELECT unit FROM slot_unit WHERE slot = $1 FOR UPDATE`, slot); err != nil {
		return SlotState{}, fmt.Errorf("storage: lock slot: %w", err)
	}
	states, err := t.SlotsWithPrefix(ctx, slot)
	if err != nil {
		return SlotState{}, err
	}
	return states[slot], nil
}

// AppointmentEventRow is a recorded status change.
type AppointmentEventRow struct {
	At                      time.Time
	Actor, From, To, Reason string
}

// AppointmentEventQuery selects status changes across appointments.
type AppointmentEventQuery struct {
	To, Actor string
	Since     time.Time
	Limit     int
}

// FoundAppointmentEvent is a status change and its appointment.
type FoundAppointmentEvent struct {
	Appointment string
	AppointmentEventRow
}

// FindAppointmentEvents lists status changes across appointments, oldest
// first.
func (s *Store) FindAppointmentEvents(ctx context.Context, q AppointmentEventQuery) ([]FoundAppointmentEvent, error) {
	rows, err := s.q.Query(storage.Unrestricted(ctx), `SELECT appointment, at, actor, coalesce(from_status, ''), to_status, coalesce(reason, '')
		FROM appointment_event WHERE ($1 = '' OR to_status = $1) AND ($2 = '' OR actor = $2) AND at >= $3 ORDER BY id LIMIT $4`,
		q.To, q.Actor, q.Since, q.Limit)
	if err != nil {
		return nil, fmt.Errorf("storage: appointment events: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (FoundAppointmentEvent, error) {
		var e FoundAppointmentEvent
		err := r.Scan(&e.Appointment, &e.At, &e.Actor, &e.From, &e.To, &e.Reason)
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("storage: appointment events: %w", err)
	}
	return out, nil
}

// AppointmentEvents lists an appointment's status changes, oldest first.
func (s *Store) AppointmentEvents(ctx context.Context, appointment string) ([]AppointmentEventRow, error) {
	rows, err := s.q.Query(ctx, `SELECT at, actor, coalesce(from_status, ''), to_status, coalesce(reason, '')
		FROM appointment_event WHERE appointment = $1 ORDER BY id`, appointment)
	if err != nil {
		return nil, fmt.Errorf("storage: appointment events: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[AppointmentEventRow])
	if err != nil {
		return nil, fmt.Errorf("storage: appointment events: %w", err)
	}
	return out, nil
}

// NoShowPolicy says what happens when a patient does not come.
type NoShowPolicy struct {
	VisitType    string
	GraceMinutes int
	Action       string // CANCEL, CONVERT_TO_ASYNC or HOLD
}

// PutNoShowPolicy puts a policy in force for its visit type (recorded in
// the admin audit).
func (s *Store) PutNoShowPolicy(ctx context.Context, p NoShowPolicy) error {
	_, err := s.q.Exec(storage.Unrestricted(ctx), storage.AdminAudited(`INSERT INTO noshow_policy (visit_type, grace_minutes, action, actor) VALUES ($1, $2, $3, $4)
		RETURNING 'noshow-policy:' || visit_type AS target`, "noshow-policy.set", 3), p.VisitType, p.GraceMinutes, p.Action, storage.Actor(ctx))
	if err != nil {
		return fmt.Errorf("storage: no-show policy: %w", err)
	}
	return nil
}

// NoShowPolicies are the policies in force, by visit type.
func (s *Store) NoShowPolicies(ctx context.Context) (map[string]NoShowPolicy, error) {
	rows, err := s.q.Query(storage.Unrestricted(ctx), `SELECT DISTINCT ON (visit_type) visit_type, grace_minutes, action FROM noshow_policy ORDER BY visit_type, id DESC`)
	if err != nil {
		return nil, fmt.Errorf("storage: no-show policies: %w", err)
	}
	list, err := pgx.CollectRows(rows, pgx.RowToStructByPos[NoShowPolicy])
	if err != nil {
		return nil, fmt.Errorf("storage: no-show policies: %w", err)
	}
	out := map[string]NoShowPolicy{}
	for _, p := range list {
		out[p.VisitType] = p
	}
	return out, nil
}

// ErrHandled is a no-show another run has acted on already.
var ErrHandled = errors.New("storage: the no-show was handled already")

// ClaimNoShow records that this transaction acts on an appointment's
// no-show; ErrHandled when another did. It returns the patient's no-shows,
// this one included.
func (t *Tx) ClaimNoShow(ctx context.Context, appointment, patient, visitType, action string) (int, error) {
	var n int
	err := t.tx.Savepoint(ctx, func(sp *storage.Tx) error {
		_, err := sp.Querier().Exec(ctx, `INSERT INTO noshow_action (appointment, patient, visit_type, action) VALUES ($1, $2, $3, $4)`,
			appointment, patient, visitType, action)
		return err
	})
	if storage.IsUniqueViolation(err) {
		return 0, ErrHandled
	}
	if err != nil {
		return 0, fmt.Errorf("storage: no-show: %w", err)
	}
	if err := t.q.QueryRow(ctx, `SELECT count(*) FROM noshow_action WHERE patient = $1`, patient).Scan(&n); err != nil {
		return 0, fmt.Errorf("storage: no-show: %w", err)
	}
	return n, nil
}

// WaitlistEntry is a patient waiting for a slot, with its score's inputs.
type WaitlistEntry struct {
	ID                                                       int64
	Appointment, Patient, Practitioner, Specialty, VisitType string
	Urgency                                                  int
	DistanceKm                                               float64
	Joined                                                   time.Time
}

// AddWaitlistEntry records an entry and returns its id.
func (t *Tx) AddWaitlistEntry(ctx context.Context, e WaitlistEntry) (int64, error) {
	var id int64
	err := t.q.QueryRow(ctx, `INSERT INTO waitlist_entry (appointment, patient, practitioner, specialty, visit_type, urgency, distance_km)
		VALUES ($1, $2, nullif($3, ''), nullif($4, ''), nullif($5, ''), $6, $7) RETURNING id, joined`,
		e.Appointment, e.Patient, e.Practitioner, e.Specialty, e.VisitType, e.Urgency, e.DistanceKm).Scan(&id, &e.Joined)
	if err != nil {
		return 0, fmt.Errorf("storage: waitlist: %w", err)
	}
	return id, nil
}

const waitlistColumns = `e.id, e.appointment, e.patient, coalesce(e.practitioner, ''), coalesce(e.specialty, ''),
	coalesce(e.visit_type, ''), e.urgency, e.distance_km::float8, e.joined`

// WaitlistCandidates are the entries still waiting (neither promoted nor
// removed) for the practitioner or one of the specialties, taking the
// visit types (an entry without one takes any).
func (t *Tx) WaitlistCandidates(ctx context.Context, practitioner string, specialties, visitTypes []string) ([]WaitlistEntry, error) {
	rows, err := t.q.Query(ctx, `SELECT `+waitlistColumns+` FROM waitlist_entry e
		WHERE (e.practitioner = $1 OR e.specialty = ANY($2))
		  AND (e.visit_type IS NULL OR e.visit_type = ANY($3))
		  AND NOT EXISTS (SELECT 1 FROM waitlist_event v WHERE v.entry = e.id AND v.kind IN ('PROMOTED', 'REMOVED'))
		ORDER BY e.joined`, practitioner, specialties, visitTypes)
	if err != nil {
		return nil, fmt.Errorf("storage: waitlist: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[WaitlistEntry])
	if err != nil {
		return nil, fmt.Errorf("storage: waitlist: %w", err)
	}
	return out, nil
}

// WaitingEntry is the entry of a waitlist appointment still waiting;
// storage.ErrNotFound when there is none.
func (t *Tx) WaitingEntry(ctx context.Context, appointment string) (WaitlistEntry, error) {
	rows, err := t.q.Query(ctx, `SELECT `+waitlistColumns+` FROM waitlist_entry e WHERE e.appointment = $1
		AND NOT EXISTS (SELECT 1 FROM waitlist_event v WHERE v.entry = e.id AND v.kind IN ('PROMOTED', 'REMOVED'))`, appointment)
	if err != nil {
		return WaitlistEntry{}, fmt.Errorf("storage: waitlist: %w", err)
	}
	e, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByPos[WaitlistEntry])
	if errors.Is(err, pgx.ErrNoRows) {
		return e, storage.ErrNotFound
	}
	if err != nil {
		return e, fmt.Errorf("storage: waitlist: %w", err)
	}
	return e, nil
}

// WaitlistEvent is something that happened to an entry, with the score it
// had and the inputs of that score.
type WaitlistEvent struct {
	Entry         int64
	Kind          string // JOINED, PROMOTED, REMOVED
	Slot          string
	Score         float64
	Inputs        []byte // JSON
	Actor, Reason string
}

// AddWaitlistEvent records an event.
func (t *Tx) AddWaitlistEvent(ctx context.Context, e WaitlistEvent) error {
	_, err := t.q.Exec(ctx, `INSERT INTO waitlist_event (entry, kind, slot, score, inputs, actor, reason)
		VALUES ($1, $2, nullif($3, ''), $4, $5, $6, nullif($7, ''))`, e.Entry, e.Kind, e.Slot, e.Score, e.Inputs, e.Actor, e.Reason)
	if err != nil {
		return fmt.Errorf("storage: waitlist event: %w", err)
	}
	return nil
}
