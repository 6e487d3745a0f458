package fhirserver_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirserver/fhirserver/operations/telehealth"
	"github.com/fhirserver/fhirserver/smart"
)

const noParams = `{"resourceType":"Parameters"}`

// teleApp registers an app that may ask for Encounter updates: what a
// practitioner's moves of a session take.
func teleApp(t *testing.T, ts *testServer) {
	t.Helper()
	_, err := ts.smart.RegisterClient(context.Background(), smart.Client{ID: "tele-app", Public: true, RedirectURIs: []string{appRedirect},
		Scopes: strings.Fields("openid fhirUser user/*.rs user/Encounter.u")})
	require.NoError(t, err)
}

// otherClinician is dr2, a clinician who cares for p1 too (an Encounter
// of their own), so that they read p1's sessions without taking part.
func otherClinician(t *testing.T, ts *testServer) string {
	t.Helper()
	require.NoError(t, ts.smart.AddUser(context.Background(), smart.User{Username: "doc2", Password: password, Role: "clinician", FHIRUser: "Practitioner/dr2"}))
	ts.put("Encounter", "e-dr2", `{"resourceType":"Encounter","status":"in-progress","class":{"code":"AMB"},"subject":{"reference":"Patient/p1"},
		"participant":[{"individual":{"reference":"Practitioner/dr2"}}]}`)
	return userTokenFor(t, ts, "tele-app", "doc2", "openid fhirUser user/*.rs user/Encounter.u")
}

// lastEncounterAudit is the newest audit record of an operation on an
// Encounter.
func lastEncounterAudit(t *testing.T, ts *testServer, id string) summary {
	t.Helper()
	events := auditEvents(t, ts)
	for i := len(events) - 1; i >= 0; i-- {
		s := summarize(events[i])
		if s.Interaction == "operation" && slices.Contains(s.Entities, "Encounter/"+id) {
			return s
		}
	}
	t.Fatalf("no audit record of an operation on Encounter/%s", id)
	return summary{}
}

func sessionStates(t *testing.T, ts *testServer, id string) int {
	t.Helper()
	return ownerCount(t, ts, `SELECT count(*) FROM telehealth_event WHERE encounter = $1`, id)
}

// A move changes the Encounter: a backend needs Encounter update, and so
// does the practitioner (scope and role); the session's patient joins and
// leaves by the participant rule alone. Each refusal is a 403, audited,
// that moves neither the session nor its appointment.
func TestTelehealthMovesNeedEncounterUpdate(t *testing.T) {
	t.Parallel()
	ts := launchServer(t)
	teleApp(t, ts)
	ctx := context.Background()
	s1 := newSession(t, ts, "a1", "p1")
	s2 := newSession(t, ts, "a2", "p1")
	readOnly := ts.tokenFor("system/Encounter.r system/Appointment.r")
	full := ts.token

	refused := func(token, id, op string) {
		t.Helper()
		before := sessionStates(t, ts, id)
		r := ts.doWith(token, "POST", "/Encounter/"+id+"/$"+op, fhirJSON, noParams)
		assertOutcome(t, r, 403, "forbidden", "")
		assert.Equal(t, before, sessionStates(t, ts, id), "$%s by a token that may not update the Encounter moved it", op)
		assert.Equal(t, "4", lastEncounterAudit(t, ts, id).Outcome, "the refused $%s is audited", op)
	}
	moved := func(token, id, op string) {
		t.Helper()
		r := ts.doWith(token, "POST", "/Encounter/"+id+"/$"+op, fhirJSON, noParams)
		require.Equal(t, 200, r.Status, "$%s: %s", op, r.Body)
	}

	// A backend with Encounter read alone moves nothing, at any step.
	refused(readOnly, s1, "join")
	moved(full, s1, "join")
	refused(readOnly, s1, "start")
	moved(full, s1, "start")
	refused(readOnly, s1, "complete")
	refused(readOnly, s1, "abandon")
	refused(readOnly, s2, "no-show")
	refused(readOnly, s2, "abandon")
	assert.Equal(t, "arrived", ts.do("GET", "/Appointment/a1", "", "").json(t)["status"], "not fulfilled")
	assert.Equal(t, "booked", ts.do("GET", "/Appointment/a2", "", "").json(t)["status"], "not a no-show")
	moved(ts.tokenFor("system/Encounter.ru"), s1, "complete")
	assert.Equal(t, "fulfilled", ts.do("GET", "/Appointment/a1", "", "").json(t)["status"])

	// The practitioner: the scope to update Encounters, and a role that
	// permits it.
	readingDoc := userTokenFor(t, ts, "app", "doc", "openid fhirUser user/*.rs")
	refused(readingDoc, s2, "no-show")
	require.NoError(t, ts.smart.AddUser(ctx, smart.User{Username: "nurse", Password: password, Role: "nurse", FHIRUser: "Practitioner/dr1"}))
	require.NoError(t, ts.store.SetRolePermissions(ctx, "nurse", "*", "rs"))
	refused(userTokenFor(t, ts, "tele-app", "nurse", "openid fhirUser user/*.rs user/Encounter.u"), s2, "no-show")
	// Another clinician who reads the session and may update Encounters
	// is still no participant.
	refused(otherClinician(t, ts), s2, "no-show")

	// The session's patient joins with read access alone: the join is
	// their act, not a generic update of the Encounter.
	require.NoError(t, ts.smart.AddUser(ctx, smart.User{Username: "pat", Password: password, Role: "patient", FHIRUser: "Patient/p1"}))
	pat := userTokenFor(t, ts, "app", "pat", "openid fhirUser user/*.rs")
	moved(pat, s2, "join")
	doc := userTokenFor(t, ts, "tele-app", "doc", "openid fhirUser user/*.rs user/Encounter.u")
	moved(doc, s2, "start")
	refused(pat, s2, "complete")
	moved(pat, s2, "abandon")

	// The practitioner launched on the patient, with patient/ scopes that
	// update: the write path holds the move to that patient's record.
	s3 := newSession(t, ts, "a3", "p1")
	launched := launchToken(t, ts, "launch/patient openid fhirUser patient/*.cruds", nil, nil)
	require.Equal(t, "p1", launched["patient"])
	moved(launched["access_token"].(string), s3, "no-show")
}

// $video-failover and $quality are the session's participants' reports:
// anyone else is refused before anything happens (no new room, no
// quality row), and so is a patient before the video's consents.
func TestVideoReportsOnlyByParticipants(t *testing.T) {
	t.Parallel()
	ts := launchServer(t)
	teleApp(t, ts)
	ctx := context.Background()
	require.NoError(t, ts.smart.AddUser(ctx, smart.User{Username: "pat", Password: password, Role: "patient", FHIRUser: "Patient/p1"}))
	pat := userTokenFor(t, ts, "app", "pat", "openid fhirUser user/*.rs")
	doc := userTokenFor(t, ts, "tele-app", "doc", "openid fhirUser user/*.rs user/Encounter.u")
	doc2 := otherClinician(t, ts)
	readOnly := ts.tokenFor("system/Encounter.r")
	s1 := newSession(t, ts, "a1", "p1")
	require.Equal(t, 200, ts.doWith(pat, "POST", "/Encounter/"+s1+"/$join", fhirJSON, noParams).Status)
	r := ts.doWith(doc, "POST", "/Encounter/"+s1+"/$video-token", fhirJSON, noParams)
	require.Equal(t, 200, r.Status, "%s", r.Body)
	require.Equal(t, 200, fhirGet(ts, doc2, "/Encounter/"+s1).Status, "the other clinician reads the session")

	rooms := func() int {
		return ownerCount(t, ts, `SELECT count(*) FROM telehealth_room WHERE encounter = $1`, s1)
	}
	quality := func() int {
		return ownerCount(t, ts, `SELECT count(*) FROM telehealth_quality WHERE encounter = $1`, s1)
	}
	report := `{"resourceType":"Parameters","parameter":[{"name":"kind","valueCode":"JITTER"},{"name":"value","valueDecimal":30}]}`
	require.Equal(t, 1, rooms())
	for name, token := range map[string]string{"a read-only backend": readOnly, "a backend that may do anything": ts.token, "another clinician": doc2,
		"the patient before consent": pat} {
		assertOutcome(t, ts.doWith(token, "POST", "/Encounter/"+s1+"/$video-failover", fhirJSON, noParams), 403, "forbidden", "")
		assert.Equal(t, 1, rooms(), "%s switched the room", name)
		assert.Equal(t, "4", lastEncounterAudit(t, ts, s1).Outcome)
		if name == "the patient before consent" {
			continue
		}
		assertOutcome(t, ts.doWith(token, "POST", "/Encounter/"+s1+"/$quality", fhirJSON, report), 403, "forbidden", "")
		assert.Zero(t, quality(), "%s reported quality", name)
		assert.Equal(t, "4", lastEncounterAudit(t, ts, s1).Outcome)
	}
	assert.Contains(t, string(ts.doWith(doc, "POST", "/Encounter/"+s1+"/$video-token", fhirJSON, noParams).Body), "token:primary:", "the room is where it was")

	// The participants report.
	assert.Equal(t, 202, ts.doWith(pat, "POST", "/Encounter/"+s1+"/$quality", fhirJSON, report).Status)
	assert.Equal(t, 202, ts.doWith(doc, "POST", "/Encounter/"+s1+"/$quality", fhirJSON, report).Status)
	assert.Equal(t, 2, quality())
	r = ts.doWith(doc, "POST", "/Encounter/"+s1+"/$video-failover", fhirJSON, noParams)
	require.Equal(t, 200, r.Status, "%s", r.Body)
	assert.Contains(t, string(r.Body), "token:backup:session-"+s1+":practitioner-dr1#")
	assert.Equal(t, 2, rooms())
}

// The waiting room is watched by the session's own people (its patient,
// its practitioner) and by backends that read Encounters; another
// clinician who reads the session is refused, over HTTP and WebSocket.
func TestWaitingRoomOnlyForTheSession(t *testing.T) {
	t.Parallel()
	ts := launchServer(t)
	teleApp(t, ts)
	ctx := context.Background()
	require.NoError(t, ts.smart.AddUser(ctx, smart.User{Username: "pat", Password: password, Role: "patient", FHIRUser: "Patient/p1"}))
	pat := userTokenFor(t, ts, "app", "pat", "openid fhirUser user/*.rs")
	doc := userTokenFor(t, ts, "app", "doc", "openid fhirUser user/*.rs")
	doc2 := otherClinician(t, ts)
	s1 := newSession(t, ts, "a1", "p1")
	path := "/Encounter/" + s1 + "/$waiting-room"
	require.Equal(t, 200, fhirGet(ts, doc2, "/Encounter/"+s1).Status, "the other clinician reads the session")

	assertOutcome(t, fhirGet(ts, doc2, path), 403, "forbidden", "")
	assert.Equal(t, "4", lastEncounterAudit(t, ts, s1).Outcome)
	_, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(ts.URL, "http")+path,
		&websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + doc2}}})
	require.Error(t, err)
	assert.Equal(t, 403, resp.StatusCode)
	for name, token := range map[string]string{"the patient": pat, "the practitioner": doc, "a backend": ts.tokenFor("system/Encounter.r")} {
		r := fhirGet(ts, token, path)
		assert.Equal(t, 200, r.Status, "%s: %s", name, r.Body)
	}
}

// A WebSocket lives no longer than the token that opened it, and a token
// revoked meanwhile gets no more pushes.
func TestWaitingRoomClosesWithItsToken(t *testing.T) {
	t.Parallel()
	ts := newServerLifespan(t, 4*time.Second)
	ts.put("Practitioner", "dr1", `{"resourceType":"Practitioner"}`)
	ts.put("Patient", "p1", `{"resourceType":"Patient"}`)
	s1 := newSession(t, ts, "a1", "p1")
	ctx := context.Background()
	wsURL := "ws" + strings.TrimPrefix(ts.URL, "http") + "/Encounter/" + s1 + "/$waiting-room"
	closeReason := func(err error) string {
		var ce websocket.CloseError
		if errors.As(err, &ce) {
			return ce.Reason
		}
		return ""
	}

	opened := time.Now()
	ws, _, err := websocket.Dial(ctx, wsURL, &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + ts.tokenFor("system/Encounter.r")}}})
	require.NoError(t, err)
	defer ws.CloseNow()
	assert.Equal(t, telehealth.Position{State: "SCHEDULED"}, position(t, ws))
	rctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	_, _, err = ws.Read(rctx)
	require.Error(t, err)
	assert.Equal(t, websocket.StatusPolicyViolation, websocket.CloseStatus(err), "closed by the server when the token expired: %v", err)
	assert.Contains(t, closeReason(err), "expired")
	assert.Less(t, time.Since(opened), 10*time.Second)

	// Revoked: the next change closes the socket instead of reaching it.
	id, secret := ts.client("system/Encounter.r")
	_, body, _ := ts.requestToken(id, secret, "system/Encounter.r")
	token := body["access_token"].(string)
	ws2, _, err := websocket.Dial(ctx, wsURL, &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + token}}})
	require.NoError(t, err)
	defer ws2.CloseNow()
	assert.Equal(t, telehealth.Position{State: "SCHEDULED"}, position(t, ws2))
	req, err := http.NewRequest("POST", strings.TrimSuffix(ts.URL, "/fhir")+"/auth/revoke", strings.NewReader(url.Values{"token": {token}}.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(id, secret)
	r, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	r.Body.Close()
	require.Equal(t, 200, r.StatusCode, "revocation")
	ts.token = ts.tokenFor("system/*.cruds")
	require.Equal(t, 200, ts.do("POST", "/Encounter/"+s1+"/$join", fhirJSON, noParams).Status)
	rctx2, cancel2 := context.WithTimeout(ctx, 3*time.Second)
	defer cancel2()
	_, b, err := ws2.Read(rctx2)
	require.Error(t, err, "a revoked token heard: %s", b)
	assert.Equal(t, websocket.StatusPolicyViolation, websocket.CloseStatus(err), "%v", err)
	assert.NotContains(t, closeReason(err), "expired", "closed for the revocation, before the token's end")
}
