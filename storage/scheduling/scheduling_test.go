package scheduling_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirserver/fhirserver/storage"
	"github.com/fhirserver/fhirserver/storage/scheduling"
	"github.com/fhirserver/fhirserver/storage/storagetest"
)

func book(t *testing.T, s *storage.Store, slot, appointment string) (scheduling.SlotUse, error) {
	t.Helper()
	var use scheduling.SlotUse
	err := s.InTx(context.Background(), func(tx *storage.Tx) error {
		var err error
		use, err = scheduling.In(tx).BookSlot(context.Background(), slot, appointment)
		return err
	})
	return use, err
}

// A slot takes as many bookings as it has units; a released unit is booked
// again; many clients booking at once get exactly its capacity.
func TestSlotCapacity(t *testing.T) {
	t.Parallel()
	s, _ := storagetest.Open(t)
	ctx := context.Background()
	require.NoError(t, s.InTx(ctx, func(tx *storage.Tx) error { return scheduling.In(tx).AddSlotUnits(ctx, "s1", 2) }))
	require.NoError(t, s.InTx(ctx, func(tx *storage.Tx) error { return scheduling.In(tx).AddSlotUnits(ctx, "s1", 2) }), "idempotent")

	u, err := book(t, s, "s1", "a1")
	require.NoError(t, err)
	assert.Equal(t, scheduling.SlotUse{Unit: 1, Full: false}, u)
	u, err = book(t, s, "s1", "a2")
	require.NoError(t, err)
	assert.Equal(t, scheduling.SlotUse{Unit: 2, Full: true}, u)
	_, err = book(t, s, "s1", "a3")
	assert.ErrorIs(t, err, scheduling.ErrSlotFull)

	var freed []string
	require.NoError(t, s.InTx(ctx, func(tx *storage.Tx) error {
		var err error
		freed, err = scheduling.In(tx).ReleaseAppointment(ctx, "a1", "cancelled")
		return err
	}))
	assert.Equal(t, []string{"s1"}, freed)
	u, err = book(t, s, "s1", "a3")
	require.NoError(t, err)
	assert.Equal(t, 1, u.Unit, "the released unit")

	_, err = book(t, s, "nope", "a4")
	assert.ErrorIs(t, err, storage.ErrNotFound)

	// Contention: 24 bookers, 3 units.
	require.NoError(t, s.InTx(ctx, func(tx *storage.Tx) error { return scheduling.In(tx).AddSlotUnits(ctx, "s2", 3) }))
	var wins, full int
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range 24 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := book(t, s, "s2", fmt.Sprintf("c%d", i))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				wins++
			case errors.Is(err, scheduling.ErrSlotFull):
				full++
			default:
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, 3, wins)
	assert.Equal(t, 21, full)
}

// The database keeps a unit from two live bookings on its own: raw SQL that
// skips every check in Go is refused.
func TestDoubleBookingIsRefusedByTheDatabase(t *testing.T) {
	t.Parallel()
	s, owner := storagetest.Open(t)
	ctx := context.Background()
	require.NoError(t, s.InTx(ctx, func(tx *storage.Tx) error { return scheduling.In(tx).AddSlotUnits(ctx, "s1", 1) }))
	_, err := book(t, s, "s1", "a1")
	require.NoError(t, err)

	conn, err := pgx.Connect(ctx, owner)
	require.NoError(t, err)
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "SET ROLE fhir_app")
	require.NoError(t, err)
	for name, stmt := range map[string]string{
		"the same booking again":          `INSERT INTO slot_booking (slot, unit, gen, appointment) VALUES ('s1', 1, 1, 'a2')`,
		"the next one, with no release":   `INSERT INTO slot_booking (slot, unit, gen, appointment) VALUES ('s1', 1, 2, 'a2')`,
		"a unit the slot does not have":   `INSERT INTO slot_booking (slot, unit, gen, appointment) VALUES ('s1', 2, 1, 'a2')`,
		"a release of nothing":            `INSERT INTO slot_release (slot, unit, gen) VALUES ('s1', 1, 2)`,
		"a booking changed in place":      `UPDATE slot_booking SET appointment = 'a2'`,
		"a booking deleted":               `DELETE FROM slot_booking`,
		"a unit changed through its lock": `UPDATE slot_unit SET unit = 2`,
	} {
		_, err := conn.Exec(ctx, stmt)
		assert.Error(t, err, name)
	}
	var live int
	require.NoError(t, conn.QueryRow(ctx, `SELECT count(*) FROM slot_booking WHERE slot = 's1'`).Scan(&live))
	assert.Equal(t, 1, live)
}

// scheduleRow is a version of a Schedule with its actor index rows.
func scheduleRow(id string, version int64, actors ...string) storage.Row {
	r := storage.Row{Key: storage.Key{Type: "Schedule", ID: id}, Version: version, Method: "PUT", Resource: []byte(`{"resourceType":"Schedule"}`)}
	for _, a := range actors {
		typ, target, _ := strings.Cut(a, "/")
		r.Index.References = append(r.Index.References, storage.ReferenceEntry{Param: "actor", TargetType: &typ, TargetID: &target})
	}
	return r
}

// The Schedules of $find's actors: current versions only (a Schedule
// whose actor changed is the new actor's), not deleted ones, and every
// actor given must be among a Schedule's.
func TestSchedulesWithActors(t *testing.T) {
	t.Parallel()
	s, _ := storagetest.Open(t)
	ctx := context.Background()
	gone := scheduleRow("gone", 2)
	gone.Deleted, gone.Resource, gone.Method = true, nil, "DELETE"
	require.NoError(t, s.InTx(ctx, func(tx *storage.Tx) error {
		return tx.Append(ctx, []storage.Row{
			scheduleRow("both", 1, "Practitioner/a", "Location/l"), scheduleRow("a", 1, "Practitioner/a"),
			scheduleRow("moved", 1, "Practitioner/a"), scheduleRow("moved", 2, "Practitioner/b"),
			scheduleRow("gone", 1, "Practitioner/a"), gone,
		})
	}))
	for _, c := range []struct {
		actors []string
		want   []string
	}{
		{[]string{"Practitioner/a"}, []string{"a", "both"}},
		{[]string{"Practitioner/a", "Location/l"}, []string{"both"}},
		{[]string{"Location/l", "Practitioner/a"}, []string{"both"}},
		{[]string{"Practitioner/b"}, []string{"moved"}},
		{[]string{"Practitioner/b", "Location/l"}, []string{}},
		{[]string{"Location/a"}, []string{}},
	} {
		got, err := scheduling.New(s).SchedulesWithActors(ctx, c.actors)
		require.NoError(t, err)
		assert.Equal(t, c.want, got, "%v", c.actors)
	}
}
