package fhirserver_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirserver/fhirserver/storage"
	schedstore "github.com/fhirserver/fhirserver/storage/scheduling"
)

// availabilityBody is a Parameters for $availability: one window on every
// day of the week, so that the test does not depend on today's weekday.
func availabilityBody(start, end string, minutes, capacity int, visitType string) string {
	var rules []string
	for day := range 7 {
		rules = append(rules, fmt.Sprintf(`{"name":"rule","part":[{"name":"weekday","valueInteger":%d},{"name":"start","valueTime":"%s"},
			{"name":"end","valueTime":"%s"},{"name":"slotMinutes","valueInteger":%d},{"name":"maxConcurrent","valueInteger":%d},
			{"name":"visitType","valueCode":"%s"}]}`, day, start, end, minutes, capacity, visitType))
	}
	return `{"resourceType":"Parameters","parameter":[{"name":"timezone","valueString":"America/New_York"},` + strings.Join(rules, ",") + `]}`
}

// freeSlots is $find's answer as slot ids, earliest first.
func freeSlots(t testing.TB, ts *testServer, query string) []string {
	t.Helper()
	r := ts.do("GET", "/Appointment/$find?"+query, "", "")
	require.Equal(t, 200, r.Status, "%s", r.Body)
	var ids []string
	var last string
	entries, _ := r.json(t)["entry"].([]any)
	for _, e := range entries {
		slot := e.(map[string]any)["resource"].(map[string]any)
		assert.Equal(t, "free", slot["status"])
		assert.GreaterOrEqual(t, slot["start"].(string), last, "sorted by start")
		last = slot["start"].(string)
		ids = append(ids, slot["id"].(string))
	}
	return ids
}

func bookBody(slot string) string {
	return `{"resourceType":"Parameters","parameter":[{"name":"appointment","resource":{"resourceType":"Appointment",
		"slot":[{"reference":"Slot/` + slot + `"}],"participant":[{"actor":{"reference":"Patient/p1"},"status":"accepted"},
		{"actor":{"reference":"Practitioner/dr1"},"status":"accepted"}]}}]}`
}

// Availability becomes Slots; $find lists the free ones; $book books a
// slot once per unit of its capacity, under its lock, and a lost race
// answers 409; cancelling frees the slot; every status change is an event;
// a block or a change of availability withdraws free slots and leaves
// booked ones as they are.
func TestSchedulingAndBooking(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	ctx := context.Background()
	ts.put("Practitioner", "dr1", `{"resourceType":"Practitioner","id":"dr1"}`)
	ts.put("Patient", "p1", `{"resourceType":"Patient","id":"p1"}`)

	r := ts.do("POST", "/Practitioner/dr1/$availability", fhirJSON, availabilityBody("09:00", "10:00", 30, 1, "FOLLOWUP"))
	require.Equal(t, 200, r.Status, "%s", r.Body)
	slots := freeSlots(t, ts, "practitioner=dr1&_count=100")
	require.GreaterOrEqual(t, len(slots), 2*13, "two a day over the horizon")
	assert.Len(t, freeSlots(t, ts, "practitioner=dr1&visit-type=FOLLOWUP&_count=100"), len(slots))
	assert.Empty(t, freeSlots(t, ts, "practitioner=dr1&visit-type=NEWPATIENT"))
	assert.Empty(t, freeSlots(t, ts, "practitioner=nobody"))
	assert.Equal(t, 400, ts.do("GET", "/Appointment/$find?colour=blue", "", "").Status)

	// Book the first slot; it is full, so the next booking loses.
	first := slots[0]
	r = ts.do("POST", "/Appointment/$book", fhirJSON, bookBody(first))
	require.Equal(t, 201, r.Status, "%s", r.Body)
	appt := r.json(t)
	assert.Equal(t, "booked", appt["status"])
	assert.NotEmpty(t, appt["start"])
	assert.Equal(t, "busy", ts.do("GET", "/Slot/"+first, "", "").json(t)["status"])
	r = ts.do("POST", "/Appointment/$book", fhirJSON, bookBody(first))
	assert.Equal(t, 409, r.Status, "%s", r.Body)
	assert.NotContains(t, freeSlots(t, ts, "practitioner=dr1&_count=100"), first)

	// A move the lifecycle does not allow is refused, naming the allowed ones.
	id := appt["id"].(string)
	appt["status"] = "fulfilled"
	delete(appt, "meta")
	r = ts.do("PUT", "/Appointment/"+id, fhirJSON, string(mustJSON(t, appt)))
	require.Equal(t, 409, r.Status, "%s", r.Body)
	assert.Contains(t, string(r.Body), "from booked it may go to arrived, checked-in, cancelled, noshow, entered-in-error")

	// Cancelling frees the slot.
	appt["status"] = "cancelled"
	appt["cancelationReason"] = map[string]any{"text": "patient asked"}
	r = ts.do("PUT", "/Appointment/"+id, fhirJSON, string(mustJSON(t, appt)))
	require.Equal(t, 200, r.Status, "%s", r.Body)
	assert.Equal(t, "free", ts.do("GET", "/Slot/"+first, "", "").json(t)["status"])
	assert.Contains(t, freeSlots(t, ts, "practitioner=dr1&_count=100"), first)
	h := ts.do("GET", "/Appointment/"+id+"/_history", "", "").json(t)
	assert.Len(t, h["entry"], 2, "booked, then cancelled: versions, never changed in place")

	conn, err := pgx.Connect(ctx, ts.owner)
	require.NoError(t, err)
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT coalesce(from_status, ''), to_status, coalesce(reason, '') FROM appointment_event WHERE appointment = $1 ORDER BY id`, id)
	require.NoError(t, err)
	events, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (string, error) {
		var f, to, why string
		err := r.Scan(&f, &to, &why)
		return f + ">" + to + ":" + why, err
	})
	require.NoError(t, err)
	assert.Equal(t, []string{">booked:", "booked>cancelled:patient asked"}, events)
	ev := ts.do("GET", "/Appointment/"+id+"/$events", "", "")
	require.Equal(t, 200, ev.Status, "%s", ev.Body)
	assert.Len(t, ev.json(t)["parameter"], 2)
	assert.Contains(t, string(ev.Body), `{"name":"from","valueCode":"booked"}`)
	assert.Equal(t, 404, ts.do("GET", "/Appointment/nope/$events", "", "").Status)

	// Book the second slot, then block the morning of both it and the
	// third: the booked one stays, the free one is withdrawn.
	second, third := slots[1], slots[2]
	require.Equal(t, 201, ts.do("POST", "/Appointment/$book", fhirJSON, bookBody(second)).Status)
	secondStart := ts.do("GET", "/Slot/"+second, "", "").json(t)["start"].(string)
	thirdEnd := ts.do("GET", "/Slot/"+third, "", "").json(t)["end"].(string)
	r = ts.do("POST", "/Practitioner/dr1/$block", fhirJSON, `{"resourceType":"Parameters","parameter":[
		{"name":"start","valueDateTime":"`+secondStart+`"},{"name":"end","valueDateTime":"`+thirdEnd+`"},{"name":"reason","valueString":"training"}]}`)
	require.Equal(t, 200, r.Status, "%s", r.Body)
	assert.Equal(t, "busy", ts.do("GET", "/Slot/"+second, "", "").json(t)["status"], "booked: untouched")
	assert.Equal(t, "busy-unavailable", ts.do("GET", "/Slot/"+third, "", "").json(t)["status"])

	// New availability: the old free slots go, the booked one stays.
	r = ts.do("POST", "/Practitioner/dr1/$availability", fhirJSON, availabilityBody("14:00", "14:30", 30, 1, "FOLLOWUP"))
	require.Equal(t, 200, r.Status, "%s", r.Body)
	assert.Equal(t, "busy", ts.do("GET", "/Slot/"+second, "", "").json(t)["status"])
	assert.Equal(t, "busy-unavailable", ts.do("GET", "/Slot/"+first, "", "").json(t)["status"])
	for _, s := range freeSlots(t, ts, "practitioner=dr1&_count=100") {
		start := ts.do("GET", "/Slot/"+s, "", "").json(t)["start"].(string)
		at, err := time.Parse(time.RFC3339, start)
		require.NoError(t, err)
		ny, _ := time.LoadLocation("America/New_York")
		assert.Equal(t, 14, at.In(ny).Hour(), "only the new window's slots are free")
	}
}

// Many clients booking few units: exactly one booking per unit, every
// loser a 409, and the database agrees.
func TestBookingContention(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	ctx := context.Background()
	ts.put("Practitioner", "dr1", `{"resourceType":"Practitioner","id":"dr1"}`)
	ts.put("Patient", "p1", `{"resourceType":"Patient","id":"p1"}`)
	require.Equal(t, 200, ts.do("POST", "/Practitioner/dr1/$availability", fhirJSON, availabilityBody("09:00", "09:30", 30, 3, "FOLLOWUP")).Status)
	slots := freeSlots(t, ts, "practitioner=dr1")
	require.NotEmpty(t, slots)
	slot := slots[0]
	statuses := map[int]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range 24 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := ts.do("POST", "/Appointment/$book", fhirJSON, bookBody(slot))
			mu.Lock()
			statuses[r.Status]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	assert.Equal(t, map[int]int{201: 3, 409: 21}, statuses)
	conn, err := pgx.Connect(ctx, ts.owner)
	require.NoError(t, err)
	defer conn.Close(ctx)
	var bookings, appointments int
	require.NoError(t, conn.QueryRow(ctx, `SELECT count(*) FROM slot_booking WHERE slot = $1`, slot).Scan(&bookings))
	require.NoError(t, conn.QueryRow(ctx, `SELECT count(DISTINCT id) FROM resource_version WHERE type = 'Appointment'`).Scan(&appointments))
	assert.Equal(t, 3, bookings)
	assert.Equal(t, 3, appointments, "no Appointment of a lost race was stored")
	assert.Equal(t, "busy", ts.do("GET", "/Slot/"+slot, "", "").json(t)["status"])
}

func joinWaitlist(t *testing.T, ts *testServer, patient string, urgency int, km float64) string {
	t.Helper()
	r := ts.do("POST", "/Appointment/$waitlist", fhirJSON, fmt.Sprintf(`{"resourceType":"Parameters","parameter":[
		{"name":"patient","valueReference":{"reference":"Patient/%s"}},{"name":"practitioner","valueReference":{"reference":"Practitioner/dr1"}},
		{"name":"visitType","valueCode":"FOLLOWUP"},{"name":"urgency","valueInteger":%d},{"name":"distanceKm","valueDecimal":%g}]}`, patient, urgency, km))
	require.Equal(t, 201, r.Status, "%s", r.Body)
	appt := r.json(t)
	assert.Equal(t, "waitlist", appt["status"])
	return appt["id"].(string)
}

// A cancelled booking's slot goes to the waiting patient with the highest
// score (urgency, time waited, distance); every join, promotion and removal
// is an event with the score and its inputs.
func TestWaitlist(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	ctx := context.Background()
	ts.put("Practitioner", "dr1", `{"resourceType":"Practitioner","id":"dr1"}`)
	require.Equal(t, 200, ts.do("POST", "/Practitioner/dr1/$availability", fhirJSON, availabilityBody("09:00", "09:30", 30, 1, "FOLLOWUP")).Status)
	slot := freeSlots(t, ts, "practitioner=dr1")[0]
	r := ts.do("POST", "/Appointment/$book", fhirJSON, bookBody(slot))
	require.Equal(t, 201, r.Status, "%s", r.Body)
	booked := r.json(t)

	near := joinWaitlist(t, ts, "pa", 2, 0)  // 20
	far := joinWaitlist(t, ts, "pb", 4, 50)  // 40 - 5 = 35
	other := joinWaitlist(t, ts, "pc", 3, 0) // 30
	for _, bad := range []string{
		`{"resourceType":"Parameters","parameter":[{"name":"practitioner","valueReference":{"reference":"Practitioner/dr1"}},{"name":"urgency","valueInteger":3}]}`,
		`{"resourceType":"Parameters","parameter":[{"name":"patient","valueReference":{"reference":"Patient/p"}},{"name":"urgency","valueInteger":3}]}`,
		`{"resourceType":"Parameters","parameter":[{"name":"patient","valueReference":{"reference":"Patient/p"}},{"name":"practitioner","valueReference":{"reference":"Practitioner/dr1"}},{"name":"urgency","valueInteger":9}]}`,
	} {
		assert.Equal(t, 400, ts.do("POST", "/Appointment/$waitlist", fhirJSON, bad).Status, bad)
	}

	cancel := func(appt map[string]any) {
		t.Helper()
		delete(appt, "meta")
		appt["status"] = "cancelled"
		r := ts.do("PUT", "/Appointment/"+appt["id"].(string), fhirJSON, string(mustJSON(t, appt)))
		require.Equal(t, 200, r.Status, "%s", r.Body)
	}
	cancel(booked)
	promoted := ts.do("GET", "/Appointment/"+far, "", "").json(t)
	assert.Equal(t, "booked", promoted["status"], "the highest score gets the slot")
	assert.Equal(t, "Slot/"+slot, promoted["slot"].([]any)[0].(map[string]any)["reference"])
	assert.Equal(t, "waitlist", ts.do("GET", "/Appointment/"+near, "", "").json(t)["status"])
	assert.Equal(t, "busy", ts.do("GET", "/Slot/"+slot, "", "").json(t)["status"])

	cancel(ts.do("GET", "/Appointment/"+other, "", "").json(t)) // pc leaves the list
	cancel(promoted)                                            // the slot is free again: pa is the only one left
	assert.Equal(t, "booked", ts.do("GET", "/Appointment/"+near, "", "").json(t)["status"])

	conn, err := pgx.Connect(ctx, ts.owner)
	require.NoError(t, err)
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT e.patient, v.kind, v.score::float8, v.inputs->>'urgency', v.inputs->>'distanceKm'
		FROM waitlist_event v JOIN waitlist_entry e ON e.id = v.entry ORDER BY v.id`)
	require.NoError(t, err)
	events, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (string, error) {
		var p, kind, u, km string
		var score float64
		err := r.Scan(&p, &kind, &score, &u, &km)
		return fmt.Sprintf("%s %s %.0f u%s km%s", p, kind, score, u, km), err
	})
	require.NoError(t, err)
	assert.Equal(t, []string{"pa JOINED 20 u2 km0", "pb JOINED 35 u4 km50", "pc JOINED 30 u3 km0",
		"pb PROMOTED 35 u4 km50", "pc REMOVED 30 u3 km0", "pa PROMOTED 20 u2 km0"}, events)
}

// $find by location: the Location given with the availability is an
// actor of the practitioner's Schedule.
func TestFindByLocation(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	ts.put("Practitioner", "dr1", `{"resourceType":"Practitioner","id":"dr1"}`)
	ts.put("Practitioner", "dr2", `{"resourceType":"Practitioner","id":"dr2"}`)
	withLocation := func(loc string) string {
		return strings.Replace(availabilityBody("09:00", "09:30", 30, 1, "FOLLOWUP"), `"parameter":[`,
			`"parameter":[{"name":"location","valueReference":{"reference":"Location/`+loc+`"}},`, 1)
	}
	require.Equal(t, 200, ts.do("POST", "/Practitioner/dr1/$availability", fhirJSON, withLocation("north")).Status)
	require.Equal(t, 200, ts.do("POST", "/Practitioner/dr2/$availability", fhirJSON, withLocation("south")).Status)
	north := freeSlots(t, ts, "location=north&_count=100")
	require.NotEmpty(t, north)
	assert.ElementsMatch(t, north, freeSlots(t, ts, "practitioner=dr1&_count=100"))
	assert.Empty(t, freeSlots(t, ts, "location=east"))
}

// A slot freed after it began (a no-show's) is offered to nobody.
func TestWaitlistSkipsPastSlots(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	ts.put("Practitioner", "dr1", `{"resourceType":"Practitioner","id":"dr1"}`)
	ts.put("Schedule", "sch", `{"resourceType":"Schedule","id":"sch","actor":[{"reference":"Practitioner/dr1"}]}`)
	past := time.Now().Add(-time.Hour).UTC()
	ts.put("Slot", "old", fmt.Sprintf(`{"resourceType":"Slot","id":"old","schedule":{"reference":"Schedule/sch"},"status":"free","start":"%s","end":"%s"}`,
		past.Format(time.RFC3339), past.Add(30*time.Minute).Format(time.RFC3339)))
	require.NoError(t, ts.store.InTx(context.Background(), func(tx *storage.Tx) error { return schedstore.In(tx).AddSlotUnits(context.Background(), "old", 1) }))
	r := ts.do("POST", "/Appointment/$book", fhirJSON, bookBody("old"))
	require.Equal(t, 201, r.Status, "%s", r.Body)
	appt := r.json(t)
	waiting := joinWaitlist(t, ts, "pa", 5, 0)
	delete(appt, "meta")
	appt["status"] = "noshow"
	require.Equal(t, 200, ts.do("PUT", "/Appointment/"+appt["id"].(string), fhirJSON, string(mustJSON(t, appt))).Status)
	assert.Equal(t, "free", ts.do("GET", "/Slot/old", "", "").json(t)["status"])
	assert.Equal(t, "waitlist", ts.do("GET", "/Appointment/"+waiting, "", "").json(t)["status"])
}

// A Slot made through the API can be booked (its capacity from the
// slot-capacity extension, else 1); an appointment may be recorded in any
// state when it is new (a migrated, fulfilled one).
func TestSlotsMadeThroughTheAPI(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	ts.put("Schedule", "sch", `{"resourceType":"Schedule","id":"sch","actor":[{"reference":"Practitioner/dr1"}]}`)
	ts.put("Slot", "two", `{"resourceType":"Slot","id":"two","schedule":{"reference":"Schedule/sch"},"status":"free",
		"start":"2030-01-07T14:00:00Z","end":"2030-01-07T14:30:00Z",
		"extension":[{"url":"http://fhirserver.dev/fhir/StructureDefinition/slot-capacity","valueInteger":2}]}`)
	assert.Equal(t, 201, ts.do("POST", "/Appointment/$book", fhirJSON, bookBody("two")).Status)
	assert.Equal(t, "free", ts.do("GET", "/Slot/two", "", "").json(t)["status"], "one unit left")
	assert.Equal(t, 201, ts.do("POST", "/Appointment/$book", fhirJSON, bookBody("two")).Status)
	assert.Equal(t, "busy", ts.do("GET", "/Slot/two", "", "").json(t)["status"])
	assert.Equal(t, 409, ts.do("POST", "/Appointment/$book", fhirJSON, bookBody("two")).Status)

	r := ts.do("PUT", "/Appointment/old", fhirJSON, `{"resourceType":"Appointment","id":"old","status":"fulfilled","start":"2020-01-06T14:00:00Z","end":"2020-01-06T14:30:00Z",
		"participant":[{"actor":{"reference":"Patient/p1"},"status":"accepted"}]}`)
	assert.Equal(t, 201, r.Status, "%s", r.Body)
}

// apiSlot is a free Slot as a FHIR client would POST it.
func apiSlot(schedule string, start time.Time) string {
	return fmt.Sprintf(`{"resourceType":"Slot","schedule":{"reference":"Schedule/%s"},"status":"free",
		"serviceType":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/service-type","code":"124"}]}],
		"specialty":[{"coding":[{"system":"http://snomed.info/sct","code":"394814009"}]}],
		"appointmentType":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v2-0276","code":"FOLLOWUP"}]},
		"start":"%s","end":"%s"}`, schedule, start.Format(time.RFC3339), start.Add(30*time.Minute).Format(time.RFC3339))
}

// A Schedule and Slots POSTed as any FHIR client makes them are found by
// $find (by practitioner, visit type, specialty, location and dates,
// earliest first) and booked by $book, as derived slots are.
func TestFindAndBookSlotsMadeThroughTheAPI(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	ts.put("Practitioner", "drx", `{"resourceType":"Practitioner"}`)
	ts.put("Location", "west", `{"resourceType":"Location"}`)
	ts.put("Patient", "p1", `{"resourceType":"Patient"}`)
	sch := ts.create("Schedule", `{"resourceType":"Schedule","active":true,
		"actor":[{"reference":"Practitioner/drx"},{"reference":"Location/west"}],
		"serviceType":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/service-type","code":"124"}]}],
		"specialty":[{"coding":[{"system":"http://snomed.info/sct","code":"394814009"}]}]}`)["id"].(string)
	day := time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, 3)
	var made []string
	for _, h := range []int{15, 9, 11} { // posted out of order
		made = append(made, ts.create("Slot", apiSlot(sch, day.Add(time.Duration(h)*time.Hour)))["id"].(string))
	}
	want := []string{made[1], made[2], made[0]}
	for _, q := range []string{"practitioner=drx", "practitioner=Practitioner/drx", "visit-type=124",
		"visit-type=http://terminology.hl7.org/CodeSystem/service-type|124", "specialty=394814009",
		"location=west", "practitioner=drx&location=west&specialty=394814009&visit-type=124",
		"start=" + day.Format("2006-01-02") + "&end=" + day.AddDate(0, 0, 1).Format("2006-01-02")} {
		assert.Equal(t, want, freeSlots(t, ts, q), q)
	}
	assert.Equal(t, want[1:2], freeSlots(t, ts, "practitioner=drx&start="+day.Add(10*time.Hour).Format(time.RFC3339)+
		"&end="+day.Add(12*time.Hour).Format(time.RFC3339)))
	assert.Empty(t, freeSlots(t, ts, "practitioner=nobody"))
	assert.Empty(t, freeSlots(t, ts, "location=east"))
	assert.Empty(t, freeSlots(t, ts, "specialty=000"))

	r := ts.do("POST", "/Appointment/$book", fhirJSON, bookBody(want[0]))
	require.Equal(t, 201, r.Status, "%s", r.Body)
	assert.Equal(t, want[1:], freeSlots(t, ts, "practitioner=drx"))
	assertOutcome(t, ts.do("POST", "/Appointment/$book", fhirJSON, bookBody(want[0])), 409, "conflict", "")
}

// A Slot POSTed through the API follows its changes: a client's busy,
// busy-unavailable or entered-in-error takes it out of $find and $book
// (and a cancellation does not free a slot the client blocked); a
// Schedule given a new actor moves its Slots to that actor; a Slot made in
// a transaction Bundle is found and booked as any other.
func TestSlotsMadeThroughTheAPIFollowTheirChanges(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	ts.put("Patient", "p1", `{"resourceType":"Patient"}`)
	ts.put("Schedule", "sch", `{"resourceType":"Schedule","actor":[{"reference":"Practitioner/drx"}]}`)
	day := time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, 3)
	var slots []string
	for h := range 5 {
		slots = append(slots, ts.create("Slot", apiSlot("sch", day.Add(time.Duration(9+h)*time.Hour)))["id"].(string))
	}
	setStatus := func(id, status string) {
		t.Helper()
		slot := ts.do("GET", "/Slot/"+id, "", "").json(t)
		delete(slot, "meta")
		slot["status"] = status
		r := ts.do("PUT", "/Slot/"+id, fhirJSON, string(mustJSON(t, slot)))
		require.Equal(t, 200, r.Status, "%s", r.Body)
	}
	setStatus(slots[0], "busy")
	setStatus(slots[1], "busy-unavailable")
	setStatus(slots[2], "entered-in-error")
	assert.Equal(t, slots[3:], freeSlots(t, ts, "practitioner=drx"))
	for _, s := range slots[:3] {
		assertOutcome(t, ts.do("POST", "/Appointment/$book", fhirJSON, bookBody(s)), 409, "conflict", "Appointment.slot[0]")
	}

	// Booked, then blocked by the client, then cancelled: still blocked,
	// and offered to nobody waiting.
	r := ts.do("POST", "/Appointment/$book", fhirJSON, bookBody(slots[3]))
	require.Equal(t, 201, r.Status, "%s", r.Body)
	appt := r.json(t)
	setStatus(slots[3], "busy-unavailable")
	r = ts.do("POST", "/Appointment/$waitlist", fhirJSON, `{"resourceType":"Parameters","parameter":[
		{"name":"patient","valueReference":{"reference":"Patient/p1"}},{"name":"practitioner","valueReference":{"reference":"Practitioner/drx"}},
		{"name":"urgency","valueInteger":5}]}`)
	require.Equal(t, 201, r.Status, "%s", r.Body)
	waiting := r.json(t)["id"].(string)
	delete(appt, "meta")
	appt["status"] = "cancelled"
	r = ts.do("PUT", "/Appointment/"+appt["id"].(string), fhirJSON, string(mustJSON(t, appt)))
	require.Equal(t, 200, r.Status, "%s", r.Body)
	assert.Equal(t, "busy-unavailable", ts.do("GET", "/Slot/"+slots[3], "", "").json(t)["status"])
	assert.Equal(t, "waitlist", ts.do("GET", "/Appointment/"+waiting, "", "").json(t)["status"])
	assert.Equal(t, slots[4:], freeSlots(t, ts, "practitioner=drx"))

	ts.put("Schedule", "sch", `{"resourceType":"Schedule","actor":[{"reference":"Practitioner/dry"}]}`)
	assert.Empty(t, freeSlots(t, ts, "practitioner=drx"))
	assert.Equal(t, slots[4:], freeSlots(t, ts, "practitioner=dry"))

	r = ts.do("POST", "", fhirJSON, `{"resourceType":"Bundle","type":"transaction","entry":[
		{"fullUrl":"urn:uuid:6e1c1a8e-0a4e-4c43-9d57-5a3f3b0e0001","resource":{"resourceType":"Schedule","actor":[{"reference":"Practitioner/drz"}]},
		 "request":{"method":"POST","url":"Schedule"}},
		{"resource":`+strings.Replace(apiSlot("x", day.Add(10*time.Hour)), `"Schedule/x"`, `"urn:uuid:6e1c1a8e-0a4e-4c43-9d57-5a3f3b0e0001"`, 1)+`,
		 "request":{"method":"POST","url":"Slot"}}]}`)
	require.Equal(t, 200, r.Status, "%s", r.Body)
	inBundle := freeSlots(t, ts, "practitioner=drz")
	require.Len(t, inBundle, 1)
	require.Equal(t, 201, ts.do("POST", "/Appointment/$book", fhirJSON, bookBody(inBundle[0])).Status)
	assert.Empty(t, freeSlots(t, ts, "practitioner=drz"))
}
