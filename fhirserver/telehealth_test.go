package fhirserver_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirserver/fhirserver/operations/telehealth"
	"github.com/fhirserver/fhirserver/smart"
)

func newSession(t *testing.T, ts *testServer, appt, patient string) string {
	t.Helper()
	ts.put("Appointment", appt, `{"resourceType":"Appointment","status":"booked","start":"2026-11-28T09:00:00Z","end":"2026-11-28T09:30:00Z",
		"participant":[{"actor":{"reference":"Patient/`+patient+`"},"status":"accepted"},{"actor":{"reference":"Practitioner/dr1"},"status":"accepted"}]}`)
	r := ts.do("POST", "/Encounter/$telehealth", fhirJSON, `{"resourceType":"Parameters","parameter":[
		{"name":"appointment","valueReference":{"reference":"Appointment/`+appt+`"}},{"name":"sessionType","valueCode":"CONSULTATION"}]}`)
	require.Equal(t, 201, r.Status, "%s", r.Body)
	enc := r.json(t)
	assert.Equal(t, "VR", enc["class"].(map[string]any)["code"])
	assert.Equal(t, "planned", enc["status"])
	return enc["id"].(string)
}

func position(t *testing.T, ws *websocket.Conn) telehealth.Position {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, b, err := ws.Read(ctx)
	require.NoError(t, err)
	var p telehealth.Position
	require.NoError(t, json.Unmarshal(b, &p))
	return p
}

// A telehealth session from its appointment to its end: the waiting room
// pushes positions over an authenticated WebSocket and the clinician is
// notified; no video for the patient before consent; a failing video
// provider is replaced by a new room map, the clinical record unchanged;
// the lifecycle refuses other moves; closing records the duration;
// quality reports stay out of the clinical record.
func TestTelehealthSession(t *testing.T) {
	t.Parallel()
	ts := launchServer(t)
	ctx := context.Background()
	require.NoError(t, ts.smart.AddUser(ctx, smart.User{Username: "pat", Password: password, Role: "patient", FHIRUser: "Patient/p1"}))
	patient := userTokenFor(t, ts, "app", "pat", "openid fhirUser user/*.rs")
	teleApp(t, ts)
	// The practitioner's moves change the Encounter: their app asks to update it.
	doc := userTokenFor(t, ts, "tele-app", "doc", "openid fhirUser user/*.rs user/Encounter.u")
	backend := ts.token
	s1 := newSession(t, ts, "a1", "p1")
	s2 := newSession(t, ts, "a2", "p2")

	// The patient follows the waiting room; unauthenticated, nobody does.
	wsURL := "ws" + strings.TrimPrefix(ts.URL, "http") + "/Encounter/" + s1 + "/$waiting-room"
	_, resp, err := websocket.Dial(ctx, wsURL, nil)
	require.Error(t, err)
	assert.Equal(t, 401, resp.StatusCode)
	ws, _, err := websocket.Dial(ctx, wsURL, &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + patient}}})
	require.NoError(t, err)
	defer ws.CloseNow()
	assert.Equal(t, telehealth.Position{State: "SCHEDULED"}, position(t, ws))

	ts.token = doc
	assert.Equal(t, 403, ts.do("POST", "/Encounter/"+s1+"/$join", fhirJSON, `{"resourceType":"Parameters"}`).Status, "the patient joins")
	ts.token = patient
	assert.Equal(t, 403, ts.do("POST", "/Encounter/"+s1+"/$start", fhirJSON, `{"resourceType":"Parameters"}`).Status, "the practitioner starts")
	r := ts.do("POST", "/Encounter/"+s1+"/$join", fhirJSON, `{"resourceType":"Parameters"}`)
	require.Equal(t, 200, r.Status, "%s", r.Body)
	assert.Equal(t, "arrived", r.json(t)["status"])
	assert.Equal(t, "arrived", ts.do("GET", "/Appointment/a1", "", "").json(t)["status"], "the patient has arrived: no no-show")
	assert.Equal(t, telehealth.Position{State: "WAITING_ROOM", Position: 1}, position(t, ws))
	ts.token = backend
	require.Equal(t, 200, ts.do("POST", "/Encounter/"+s2+"/$join", fhirJSON, `{"resourceType":"Parameters"}`).Status)
	assert.Equal(t, telehealth.Position{State: "WAITING_ROOM", Position: 1}, position(t, ws), "pushed on every change")
	var p2 telehealth.Position
	require.NoError(t, json.Unmarshal(ts.do("GET", "/Encounter/"+s2+"/$waiting-room", "", "").Body, &p2))
	assert.Equal(t, telehealth.Position{State: "WAITING_ROOM", Position: 2, EstimatedWaitSeconds: 900}, p2, "one consultation ahead, 15 minutes by default")
	assert.Equal(t, []string{"dr1 " + s1 + " 1", "dr1 " + s2 + " 2"}, ts.notified.all())

	// Consent before video.
	ts.token = patient
	r = ts.do("POST", "/Encounter/"+s1+"/$video-token", fhirJSON, `{"resourceType":"Parameters"}`)
	require.Equal(t, 403, r.Status, "%s", r.Body)
	assert.Contains(t, string(r.Body), "TELEHEALTH_TERMS and DATA_PROCESSING")
	for _, kind := range []string{"TELEHEALTH_TERMS", "DATA_PROCESSING"} {
		r = ts.do("POST", "/Encounter/"+s1+"/$consent", fhirJSON, `{"resourceType":"Parameters","parameter":[{"name":"type","valueCode":"`+kind+`"},{"name":"method","valueCode":"IN_APP_CLICK"}]}`)
		require.Equal(t, 201, r.Status, "%s", r.Body)
		assert.Contains(t, string(r.Body), telehealth.IPURL)
	}
	ts.token = doc
	r = ts.do("POST", "/Encounter/"+s1+"/$consent", fhirJSON, `{"resourceType":"Parameters","parameter":[{"name":"type","valueCode":"RECORDING"},{"name":"method","valueCode":"IN_APP_CLICK"}]}`)
	assert.Equal(t, 403, r.Status, "a clinician does not click for the patient")
	r = ts.do("POST", "/Encounter/"+s1+"/$consent", fhirJSON, `{"resourceType":"Parameters","parameter":[{"name":"type","valueCode":"RECORDING"},{"name":"method","valueCode":"VERBAL_CONFIRMED_BY_CLINICIAN"}]}`)
	assert.Equal(t, 201, r.Status, "%s", r.Body)
	ts.token = patient
	r = ts.do("POST", "/Encounter/"+s1+"/$video-token", fhirJSON, `{"resourceType":"Parameters"}`)
	require.Equal(t, 200, r.Status, "%s", r.Body)
	assert.Contains(t, string(r.Body), "token:primary:session-"+s1+":patient-p1#")
	assert.Contains(t, string(r.Body), ":1m0s")
	encBefore := ts.do("GET", "/Encounter/"+s1, "", "").json(t)["meta"].(map[string]any)["versionId"]

	// The provider fails: the session moves to the next one.
	ts.video[0].setFailing(true)
	r = ts.do("POST", "/Encounter/"+s1+"/$video-failover", fhirJSON, `{"resourceType":"Parameters"}`)
	require.Equal(t, 200, r.Status, "%s", r.Body)
	assert.Contains(t, string(r.Body), "token:backup:session-"+s1)
	assert.Equal(t, encBefore, ts.do("GET", "/Encounter/"+s1, "", "").json(t)["meta"].(map[string]any)["versionId"], "the clinical record is unchanged")

	// The clinician starts: the patient's waiting room closes with the state.
	ts.token = doc
	require.Equal(t, 200, ts.do("POST", "/Encounter/"+s1+"/$start", fhirJSON, `{"resourceType":"Parameters"}`).Status)
	assert.Equal(t, "ACTIVE", position(t, ws).State)
	ts.token = patient
	r = ts.do("POST", "/Encounter/"+s1+"/$join", fhirJSON, `{"resourceType":"Parameters"}`)
	assert.Equal(t, 409, r.Status)
	assert.Contains(t, string(r.Body), "from ACTIVE it may go to COMPLETED, ABANDONED")
	ts.token = backend
	require.NoError(t, json.Unmarshal(ts.do("GET", "/Encounter/"+s2+"/$waiting-room", "", "").Body, &p2))
	assert.Equal(t, 1, p2.Position, "next in line")

	ts.token = patient // a participant reports quality
	assert.Equal(t, 202, ts.do("POST", "/Encounter/"+s1+"/$quality", fhirJSON, `{"resourceType":"Parameters","parameter":[{"name":"kind","valueCode":"PACKET_LOSS"},{"name":"value","valueDecimal":0.05}]}`).Status)
	assert.Equal(t, 400, ts.do("POST", "/Encounter/"+s1+"/$quality", fhirJSON, `{"resourceType":"Parameters","parameter":[{"name":"kind","valueCode":"MOOD"}]}`).Status)
	ts.token = doc
	r = ts.do("POST", "/Encounter/"+s1+"/$complete", fhirJSON, `{"resourceType":"Parameters"}`)
	require.Equal(t, 200, r.Status, "%s", r.Body)
	enc := r.json(t)
	assert.Equal(t, "finished", enc["status"])
	assert.Zero(t, ts.video[1].roomCount(), "the room ends with the session")
	assert.Equal(t, "min", enc["length"].(map[string]any)["unit"])
	assert.NotEmpty(t, enc["period"].(map[string]any)["end"])
	assert.Equal(t, 403, ts.do("GET", "/Appointment/$events", "", "").Status, "events across appointments are for backends, not for a user held to their patients")
	ts.token = backend
	assert.Equal(t, "fulfilled", ts.do("GET", "/Appointment/a1", "", "").json(t)["status"])

	conn, err := pgx.Connect(ctx, ts.owner)
	require.NoError(t, err)
	defer conn.Close(ctx)
	var states string
	require.NoError(t, conn.QueryRow(ctx, `SELECT string_agg(to_state, ',' ORDER BY id) FROM telehealth_event WHERE encounter = $1`, s1).Scan(&states))
	assert.Equal(t, "SCHEDULED,WAITING_ROOM,ACTIVE,COMPLETED", states)
	var rooms, tokens, quality int
	require.NoError(t, conn.QueryRow(ctx, `SELECT (SELECT count(*) FROM telehealth_room WHERE encounter = $1), (SELECT count(*) FROM telehealth_token WHERE encounter = $1),
		(SELECT count(*) FROM telehealth_quality WHERE encounter = $1)`, s1).Scan(&rooms, &tokens, &quality))
	assert.Equal(t, []int{2, 2, 1}, []int{rooms, tokens, quality})
}

// A waiting room's changes reach the followers of that practitioner's
// sessions only.
func TestWaitingRoomsAreApart(t *testing.T) {
	t.Parallel()
	ts := launchServer(t)
	ctx := context.Background()
	s1 := newSession(t, ts, "a1", "p1")
	ts.put("Appointment", "a9", `{"resourceType":"Appointment","status":"booked","start":"2026-11-28T09:00:00Z","end":"2026-11-28T09:30:00Z",
		"participant":[{"actor":{"reference":"Patient/p2"},"status":"accepted"},{"actor":{"reference":"Practitioner/dr2"},"status":"accepted"}]}`)
	r := ts.do("POST", "/Encounter/$telehealth", fhirJSON, `{"resourceType":"Parameters","parameter":[
		{"name":"appointment","valueReference":{"reference":"Appointment/a9"}},{"name":"sessionType","valueCode":"TRIAGE"}]}`)
	require.Equal(t, 201, r.Status, "%s", r.Body)
	other := r.json(t)["id"].(string)
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(ts.URL, "http")+"/Encounter/"+other+"/$waiting-room",
		&websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + ts.token}}})
	require.NoError(t, err)
	defer ws.CloseNow()
	assert.Equal(t, telehealth.Position{State: "SCHEDULED"}, position(t, ws))

	require.Equal(t, 200, ts.do("POST", "/Encounter/"+s1+"/$join", fhirJSON, `{"resourceType":"Parameters"}`).Status)
	quiet, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	_, b, err := ws.Read(quiet)
	assert.Error(t, err, "dr2's patient heard of dr1's waiting room: %s", b)
}
