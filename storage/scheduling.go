package storage

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// ErrSlotFull is a booking of a slot whose every unit is taken: the
// client lost the slot to another booking (409).
var ErrSlotFull = errors.New("storage: the slot is fully booked")

// AddSlotUnits gives a slot its capacity, each unit created free; units it
// has already are kept.
func (t *Tx) AddSlotUnits(ctx context.Context, slot string, capacity int) error {
	_, err := t.tx.Exec(ctx, `
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
	rows, err := t.tx.Query(ctx, `SELECT unit FROM slot_unit WHERE slot = $1 ORDER BY unit FOR UPDATE`, slot)
	if err != nil {
		return SlotUse{}, fmt.Errorf("storage: book slot: %w", err)
	}
	units, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		return SlotUse{}, fmt.Errorf("storage: book slot: %w", err)
	}
	if len(units) == 0 {
		return SlotUse{}, fmt.Errorf("storage: slot %s has no capacity: %w", slot, ErrNotFound)
	}
	free, err := t.freeUnits(ctx, slot)
	if err != nil {
		return SlotUse{}, err
	}
	if len(free) == 0 {
		return SlotUse{}, ErrSlotFull
	}
	f := free[0]
	if _, err := t.tx.Exec(ctx, `INSERT INTO slot_booking (slot, unit, gen, appointment) VALUES ($1, $2, $3, $4)`,
		slot, f.Unit, f.Gen+1, appointment); err != nil {
		if isUniqueViolation(err) {
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
	rows, err := t.tx.Query(ctx, `
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
	rows, err := t.tx.Query(ctx, `
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
	_, err := t.tx.Exec(ctx, `INSERT INTO appointment_event (appointment, actor, from_status, to_status, reason)
		VALUES ($1, $2, nullif($3, ''), $4, nullif($5, ''))`, e.Appointment, e.Actor, e.From, e.To, e.Reason)
	if err != nil {
		return fmt.Errorf("storage: appointment event: %w", err)
	}
	return nil
}
