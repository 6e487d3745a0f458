package fhirserver_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirserver/fhirserver/operations/scheduling"
	"github.com/fhirserver/fhirserver/operations/telehealth"
	schedstore "github.com/fhirserver/fhirserver/storage/scheduling"
)

func bookedAppointment(id, visitType string, start time.Time) string {
	return fmt.Sprintf(`{"resourceType":"Appointment","id":"%s","status":"booked","start":"%s","end":"%s",
		"serviceType":[{"coding":[{"system":"%s","code":"%s"}]}],
		"participant":[{"actor":{"reference":"Patient/p1"},"status":"accepted"},{"actor":{"reference":"Practitioner/dr1"},"status":"accepted"}]}`,
		id, start.UTC().Format(time.RFC3339), start.Add(30*time.Minute).UTC().Format(time.RFC3339), scheduling.VisitTypeSystem, visitType)
}

// The no-show job acts on a booked appointment once its visit type's grace
// period has passed, as the policy says, exactly once however many
// instances run it, and asks for a coordinator's review once a patient has
// missed enough appointments.
func TestNoShowJob(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	ctx := context.Background()
	for _, p := range []schedstore.NoShowPolicy{{VisitType: "FOLLOWUP", GraceMinutes: 15, Action: "CANCEL"},
		{VisitType: "TRIAGE", GraceMinutes: 5, Action: "HOLD"}, {VisitType: "CHRONIC", GraceMinutes: 10, Action: "CONVERT_TO_ASYNC"}} {
		require.NoError(t, schedstore.New(ts.store).PutNoShowPolicy(ctx, p))
	}
	now := time.Now()
	ts.put("Patient", "p1", `{"resourceType":"Patient","id":"p1"}`)
	ts.put("Appointment", "late", bookedAppointment("late", "FOLLOWUP", now.Add(-20*time.Minute)))
	ts.put("Appointment", "in-grace", bookedAppointment("in-grace", "FOLLOWUP", now.Add(-10*time.Minute)))
	ts.put("Appointment", "held", bookedAppointment("held", "TRIAGE", now.Add(-10*time.Minute)))
	ts.put("Appointment", "no-policy", bookedAppointment("no-policy", "OTHER", now.Add(-2*time.Hour)))
	job := &scheduling.NoShows{Res: ts.res, Policies: schedstore.New(ts.store), ReviewAfter: 3, Now: func() time.Time { return now }}

	acted, err := job.Run(ctx)
	require.NoError(t, err)
	assert.Equal(t, 2, acted)
	status := func(id string) string { return ts.do("GET", "/Appointment/"+id, "", "").json(t)["status"].(string) }
	assert.Equal(t, "noshow", status("late"))
	assert.Equal(t, "booked", status("in-grace"))
	assert.Equal(t, "booked", status("held"), "HOLD changes nothing but the record")
	assert.Equal(t, "booked", status("no-policy"))
	ev := string(ts.do("GET", "/Appointment/late/$events", "", "").Body)
	assert.Contains(t, ev, "NO_SHOW_TRIGGERED")
	assert.Contains(t, ev, `{"name":"to","valueCode":"noshow"}`)

	acted, err = job.Run(ctx)
	require.NoError(t, err)
	assert.Zero(t, acted, "acted on once")

	// Several instances at once: one acts.
	ts.put("Appointment", "race", bookedAppointment("race", "CHRONIC", now.Add(-30*time.Minute)))
	var total int
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n, err := job.Run(ctx)
			assert.NoError(t, err)
			mu.Lock()
			total += n
			mu.Unlock()
		}()
	}
	wg.Wait()
	assert.Equal(t, 1, total)
	assert.Equal(t, "noshow", status("race"))

	// Across appointments: every no-show the job acted on.
	r := ts.do("GET", "/Appointment/$events?to=NO_SHOW_TRIGGERED", "", "")
	require.Equal(t, 200, r.Status, "%s", r.Body)
	assert.Len(t, r.json(t)["parameter"], 3)
	assert.Contains(t, string(r.Body), `"reference":"Appointment/race"`)
	assert.Equal(t, 400, ts.do("GET", "/Appointment/$events?colour=blue", "", "").Status)

	conn, err := pgx.Connect(ctx, ts.owner)
	require.NoError(t, err)
	defer conn.Close(ctx)
	var logged int
	require.NoError(t, conn.QueryRow(ctx, `SELECT count(*) FROM noshow_action WHERE patient = 'p1'`).Scan(&logged))
	assert.Equal(t, 3, logged, "late, held and race: the patient's no-show log")
	tasks := ts.do("GET", "/Task?patient=p1", "", "").json(t)
	codes := map[string]int{}
	for _, e := range tasks["entry"].([]any) {
		task := e.(map[string]any)["resource"].(map[string]any)
		code := task["code"].(map[string]any)["coding"].([]any)[0].(map[string]any)["code"].(string)
		codes[code]++
	}
	assert.Equal(t, map[string]int{"async-follow-up": 1, scheduling.CoordinatorReviewCode: 1}, codes,
		"the CHRONIC no-show's asynchronous follow-up, and the review at the third no-show")
}

// A telehealth session whose patient never joined becomes NO_SHOW with its
// appointment; one whose patient waits is not a no-show at all.
func TestNoShowClosesTheSession(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	ctx := context.Background()
	require.NoError(t, schedstore.New(ts.store).PutNoShowPolicy(ctx, schedstore.NoShowPolicy{VisitType: "FOLLOWUP", GraceMinutes: 10, Action: "CANCEL"}))
	now := time.Now()
	session := func(appt string) string {
		ts.put("Appointment", appt, bookedAppointment(appt, "FOLLOWUP", now.Add(-30*time.Minute)))
		r := ts.do("POST", "/Encounter/$telehealth", fhirJSON, `{"resourceType":"Parameters","parameter":[
			{"name":"appointment","valueReference":{"reference":"Appointment/`+appt+`"}},{"name":"sessionType","valueCode":"FOLLOW_UP"}]}`)
		require.Equal(t, 201, r.Status, "%s", r.Body)
		return r.json(t)["id"].(string)
	}
	absent, waiting := session("absent"), session("waiting")
	require.Equal(t, 200, ts.do("POST", "/Encounter/"+waiting+"/$join", fhirJSON, `{"resourceType":"Parameters"}`).Status)

	job := &scheduling.NoShows{Res: ts.res, Policies: schedstore.New(ts.store), Now: func() time.Time { return now }, OnNoShow: ts.tele.SessionNoShow}
	acted, err := job.Run(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, acted)
	assert.Equal(t, "noshow", ts.do("GET", "/Appointment/absent", "", "").json(t)["status"])
	assert.Equal(t, "cancelled", ts.do("GET", "/Encounter/"+absent, "", "").json(t)["status"])
	var p telehealth.Position
	require.NoError(t, json.Unmarshal(ts.do("GET", "/Encounter/"+absent+"/$waiting-room", "", "").Body, &p))
	assert.Equal(t, "NO_SHOW", p.State)
	assert.Equal(t, "arrived", ts.do("GET", "/Appointment/waiting", "", "").json(t)["status"])
}
