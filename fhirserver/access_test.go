package fhirserver_test

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirserver/fhirserver/smart"
)

const emergency = "Unconscious patient in the ED, allergies unknown"

// ownerExec runs a statement as the database's owner.
func ownerExec(t *testing.T, ts *testServer, stmt string, args ...any) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, ts.owner)
	require.NoError(t, err)
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, stmt, args...)
	require.NoError(t, err)
}

// ownerCount runs a count query as the database's owner, past row-level
// security: what is really stored.
func ownerCount(t *testing.T, ts *testServer, query string, args ...any) int {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, ts.owner)
	require.NoError(t, err)
	defer conn.Close(ctx)
	var n int
	require.NoError(t, conn.QueryRow(ctx, query, args...).Scan(&n))
	return n
}

// lastAudit is the newest audit record of an operation on a patient.
func lastAudit(t *testing.T, ts *testServer, patient string) summary {
	t.Helper()
	events := auditEvents(t, ts)
	for i := len(events) - 1; i >= 0; i-- {
		s := summarize(events[i])
		if s.Interaction == "operation" && len(s.Entities) == 1 && s.Entities[0] == "Patient/"+patient {
			return s
		}
	}
	t.Fatalf("no audit record of an operation on Patient/%s", patient)
	return summary{}
}

// Break-glass is a clinician's emergency act, with user-level scopes:
// every other token is refused, the refusal audited, and nothing granted.
func TestBreakGlassOnlyForClinicians(t *testing.T) {
	t.Parallel()
	ts := launchServer(t) // doc (dr1) cares for p1, not p2
	ctx := context.Background()
	require.NoError(t, ts.smart.AddUser(ctx, smart.User{Username: "pat", Password: password, Role: "patient", FHIRUser: "Patient/p1"}))
	require.NoError(t, ts.smart.AddUser(ctx, smart.User{Username: "audrey", Password: password, Role: "auditor"}))
	body := breakGlassBody(emergency, "ETREAT")

	for _, tc := range []struct {
		name, user string
		token      func() string
	}{
		{"a patient's token with openid fhirUser", "pat", func() string { return userTokenFor(t, ts, "app", "pat", "openid fhirUser") }},
		{"a patient's token with patient scopes", "pat", func() string { return userTokenFor(t, ts, "app", "pat", "openid fhirUser patient/*.rs") }},
		{"a patient's token with user scopes", "pat", func() string { return userTokenFor(t, ts, "app", "pat", "openid fhirUser user/*.rs") }},
		{"a backend service", "", func() string { return ts.token }},
		{"an auditor", "audrey", func() string { return userTokenFor(t, ts, "app", "audrey", "openid user/*.rs") }},
		{"a clinician held to the patient in context", "doc", func() string {
			return launchToken(t, ts, "launch/patient openid fhirUser patient/*.rs", nil, nil)["access_token"].(string)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			token := tc.token()
			r := ts.doWith(token, "POST", "/Patient/p2/$break-glass", fhirJSON, body)
			assertOutcome(t, r, 403, "forbidden", "")
			audit := lastAudit(t, ts, "p2")
			assert.Equal(t, "4", audit.Outcome, "the refused attempt is audited")
			assert.Equal(t, tc.user, audit.User)
			if tc.user != "" {
				assert.Contains(t, []int{403, 404}, fhirGet(ts, token, "/Patient/p2").Status, "nothing granted")
			}
		})
	}
	assert.Zero(t, ownerCount(t, ts, `SELECT count(*) FROM break_glass`), "no event recorded for a refusal")

	doc := userTokenFor(t, ts, "app", "doc", "openid fhirUser user/*.rs")
	r := ts.doWith(doc, "POST", "/Patient/p2/$break-glass", fhirJSON, body)
	require.Equal(t, 200, r.Status, "%s", r.Body)
	assert.Equal(t, "0", lastAudit(t, ts, "p2").Outcome)
	assert.Equal(t, 200, fhirGet(ts, doc, "/Patient/p2").Status)
}

// An event recorded for a role that may not break the glass (before this
// rule, or by hand) grants nothing.
func TestBreakGlassEventOfAnotherRoleGrantsNothing(t *testing.T) {
	t.Parallel()
	ts := launchServer(t)
	ctx := context.Background()
	require.NoError(t, ts.smart.AddUser(ctx, smart.User{Username: "pat", Password: password, Role: "patient", FHIRUser: "Patient/p1"}))
	// A Group p1 is in names p2: within p1's reach once p2 was visible.
	ts.put("Group", "g1", `{"resourceType":"Group","type":"person","actual":true,"member":[{"entity":{"reference":"Patient/p1"}},{"entity":{"reference":"Patient/p2"}}]}`)
	ownerExec(t, ts, `INSERT INTO break_glass (username, patient, justification, purpose, expires_at, review_task)
		VALUES ('pat', 'p2', $1, 'ETREAT', now() + interval '1 hour', 't')`, emergency)
	pat := userTokenFor(t, ts, "app", "pat", "openid fhirUser user/*.rs")
	assert.Contains(t, []int{403, 404}, fhirGet(ts, pat, "/Patient/p2").Status)
	assert.Equal(t, []string{"Patient/p1"}, entryKeys(t, fhirGet(ts, pat, "/Patient")))
	assert.NotContains(t, entryKeys(t, fhirGet(ts, pat, "/Group?_include=Group:member")), "Patient/p2")
}

// careWrite is one way of writing a care relationship: it returns the
// HTTP status of the write itself (a batch entry's own status).
type careWrite struct {
	name string
	send func(ts *testServer, token, typ, body string) int
}

var careWrites = []careWrite{
	{"create", func(ts *testServer, token, typ, body string) int {
		return ts.doWith(token, "POST", "/"+typ, fhirJSON, body).Status
	}},
	{"update as create", func(ts *testServer, token, typ, body string) int {
		return ts.doWith(token, "PUT", "/"+typ+"/new-"+strings.ToLower(typ), fhirJSON, withID("new-"+strings.ToLower(typ), body)).Status
	}},
	{"update", func(ts *testServer, token, typ, body string) int {
		return ts.doWith(token, "PUT", "/"+typ+"/seen", fhirJSON, withID("seen", body)).Status
	}},
	{"patch", func(ts *testServer, token, typ, body string) int {
		path := map[string]string{"Encounter": "/subject/reference", "CareTeam": "/subject/reference", "Appointment": "/participant/0/actor/reference"}[typ]
		return ts.doWith(token, "PATCH", "/"+typ+"/seen", "application/json-patch+json",
			`[{"op":"replace","path":"`+path+`","value":"Patient/p2"}]`).Status
	}},
	{"transaction", func(ts *testServer, token, typ, body string) int {
		return ts.doWith(token, "POST", "", fhirJSON, bundleOne("transaction", typ, body)).Status
	}},
	{"batch", func(ts *testServer, token, typ, body string) int {
		r := ts.doWith(token, "POST", "", fhirJSON, bundleOne("batch", typ, body))
		if r.Status != 200 {
			return r.Status
		}
		status := r.json(ts.t)["entry"].([]any)[0].(map[string]any)["response"].(map[string]any)["status"].(string)
		n, _ := strconv.Atoi(status[:3])
		return n
	}},
}

func withID(id, body string) string { return `{"id":"` + id + `",` + strings.TrimPrefix(body, "{") }

func bundleOne(kind, typ, body string) string {
	return `{"resourceType":"Bundle","type":"` + kind + `","entry":[{"resource":` + body + `,"request":{"method":"POST","url":"` + typ + `"}}]}`
}

// careBodies make a care relationship between a patient and dr2.
func careBody(typ, patient string) string {
	switch typ {
	case "Encounter":
		return `{"resourceType":"Encounter","status":"in-progress","class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"AMB"},
			"subject":{"reference":"Patient/` + patient + `"},"participant":[{"individual":{"reference":"Practitioner/dr2"}}]}`
	case "Appointment":
		return `{"resourceType":"Appointment","status":"booked","start":"2026-11-28T09:00:00Z","end":"2026-11-28T09:30:00Z","participant":[
			{"actor":{"reference":"Patient/` + patient + `"},"status":"accepted"},{"actor":{"reference":"Practitioner/dr2"},"status":"accepted"}]}`
	}
	return `{"resourceType":"CareTeam","status":"active","subject":{"reference":"Patient/` + patient + `"},
		"participant":[{"member":{"reference":"Practitioner/dr2"}}]}`
}

// A clinician cannot give themselves a patient: writing an Encounter,
// Appointment or CareTeam that would relate them (or anyone) to a patient
// they cannot see is refused, by every write path, and nothing is stored.
// Registration staff make such relationships; break-glass allows it too.
func TestCareRelationshipsAreNotSelfGranted(t *testing.T) {
	t.Parallel()
	ts := launchServer(t) // dr1 (doc) cares for p1; dr2 (kildare) for nobody
	ctx := context.Background()
	require.NoError(t, ts.smart.AddUser(ctx, smart.User{Username: "kildare", Password: password, Role: "clinician", FHIRUser: "Practitioner/dr2"}))
	require.NoError(t, ts.smart.AddUser(ctx, smart.User{Username: "desk", Password: password, Role: "registration"}))
	_, err := ts.smart.RegisterClient(ctx, smart.Client{ID: "ehr", Public: true, RedirectURIs: []string{appRedirect}, Scopes: []string{"openid", "fhirUser", "user/*.cruds"}})
	require.NoError(t, err)
	kildare := userTokenFor(t, ts, "ehr", "kildare", "openid fhirUser user/*.cruds")

	for _, typ := range []string{"Encounter", "Appointment", "CareTeam"} {
		// What kildare may already see: a relationship with p1, which the
		// update and the patch try to move to p2.
		ts.put(typ, "seen", careBody(typ, "p1"))
		for _, w := range careWrites {
			t.Run(typ+" "+w.name, func(t *testing.T) {
				assert.Equal(t, 403, w.send(ts, kildare, typ, careBody(typ, "p2")))
				assert.Zero(t, ownerCount(t, ts, `SELECT count(*) FROM resource_version WHERE type = $1 AND 'p2' = ANY(patients)`, typ), "nothing stored")
				assert.Equal(t, 404, fhirGet(ts, kildare, "/Patient/p2").Status)
			})
		}
	}
	t.Run("$book", func(t *testing.T) {
		r := ts.do("POST", "/Practitioner/dr2/$availability", fhirJSON, availabilityBody("09:00", "10:00", 30, 1, "FOLLOWUP"))
		require.Equal(t, 200, r.Status, "%s", r.Body)
		slot := freeSlots(t, ts, "practitioner=dr2")[0]
		book := strings.NewReplacer("Patient/p1", "Patient/p2", "Practitioner/dr1", "Practitioner/dr2").Replace(bookBody(slot))
		assertOutcome(t, ts.doWith(kildare, "POST", "/Appointment/$book", fhirJSON, book), 403, "forbidden", "")
		assert.Equal(t, []string{slot}, freeSlots(t, ts, "practitioner=dr2")[:1], "the slot is still free")
		assert.Equal(t, 404, fhirGet(ts, kildare, "/Patient/p2").Status)
	})
	t.Run("an EpisodeOfCare makes no relationship", func(t *testing.T) {
		r := ts.doWith(kildare, "POST", "/EpisodeOfCare", fhirJSON, `{"resourceType":"EpisodeOfCare","status":"active",
			"patient":{"reference":"Patient/p2"},"careManager":{"reference":"Practitioner/dr2"}}`)
		require.Equal(t, 201, r.Status, "%s", r.Body)
		assert.Equal(t, 404, fhirGet(ts, kildare, "/Patient/p2").Status)
	})
	t.Run("for a patient already seen", func(t *testing.T) {
		doc := userTokenFor(t, ts, "ehr", "doc", "openid fhirUser user/*.cruds")
		r := ts.doWith(doc, "POST", "/CareTeam", fhirJSON, careBody("CareTeam", "p1"))
		assert.Equal(t, 201, r.Status, "%s", r.Body)
	})
	t.Run("by registration", func(t *testing.T) {
		desk := userTokenFor(t, ts, "ehr", "desk", "openid user/*.cruds")
		slot := freeSlots(t, ts, "practitioner=dr2")[0]
		book := strings.NewReplacer("Patient/p1", "Patient/p2", "Practitioner/dr1", "Practitioner/dr2").Replace(bookBody(slot))
		r := ts.doWith(desk, "POST", "/Appointment/$book", fhirJSON, book)
		require.Equal(t, 201, r.Status, "%s", r.Body)
		assert.Equal(t, 200, fhirGet(ts, kildare, "/Patient/p2").Status, "the clinician now cares for p2")
		for _, w := range careWrites[:2] {
			assert.Equal(t, 201, w.send(ts, desk, "Encounter", careBody("Encounter", "p2")), w.name)
		}
		assert.Equal(t, 200, fhirGet(ts, desk, "/Patient/p2").Status, "registration finds any patient")
		assert.Equal(t, 201, ts.doWith(desk, "POST", "/Patient", fhirJSON, `{"resourceType":"Patient","name":[{"family":"New"}]}`).Status)
		assert.Equal(t, 403, fhirGet(ts, desk, "/Observation/o2").Status, "but no clinical data")
	})
	t.Run("under break-glass", func(t *testing.T) {
		ts.put("Patient", "p3", `{"resourceType":"Patient","name":[{"family":"Third"}]}`)
		doc := userTokenFor(t, ts, "ehr", "doc", "openid fhirUser user/*.cruds")
		assert.Equal(t, 403, ts.doWith(doc, "POST", "/CareTeam", fhirJSON, careBody("CareTeam", "p3")).Status)
		require.Equal(t, 200, ts.doWith(doc, "POST", "/Patient/p3/$break-glass", fhirJSON, breakGlassBody(emergency, "ETREAT")).Status)
		assert.Equal(t, 201, ts.doWith(doc, "POST", "/CareTeam", fhirJSON, careBody("CareTeam", "p3")).Status)
	})
}

// A token held to one patient writes only resources whose every reference
// to a patient is to that patient: whatever the element, the form of the
// reference, inside contained resources, in a Bundle too. Nothing is
// stored when it is refused.
func TestPatientContextWritesNameNoOtherPatient(t *testing.T) {
	t.Parallel()
	ts := launchServer(t)
	ctx := context.Background()
	require.NoError(t, ts.smart.AddUser(ctx, smart.User{Username: "pat", Password: password, Role: "patient", FHIRUser: "Patient/p1"}))
	require.NoError(t, ts.store.SetRolePermissions(ctx, "patient", "Observation", "cruds"))
	clinician := launchToken(t, ts, "launch/patient openid fhirUser patient/*.cruds", nil, nil)["access_token"].(string)
	patient := userTokenFor(t, ts, "app", "pat", "openid fhirUser patient/*.cruds")

	obs := func(extra string) string {
		return `{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"Patient/p1"}` + extra + `}`
	}
	refused := []struct{ name, method, path, contentType, body string }{
		{"performer", "POST", "/Observation", fhirJSON, obs(`,"performer":[{"reference":"Patient/p2"}]`)},
		{"performer by this server's URL", "POST", "/Observation", fhirJSON, obs(`,"performer":[{"reference":"` + ts.URL + `/Patient/p2"}]`)},
		{"performer by version", "POST", "/Observation", fhirJSON, obs(`,"performer":[{"reference":"Patient/p2/_history/1"}]`)},
		{"performer by identifier", "POST", "/Observation", fhirJSON, obs(`,"performer":[{"type":"Patient","identifier":{"system":"urn:mrn","value":"2"}}]`)},
		{"performer by criteria", "POST", "/Observation", fhirJSON, obs(`,"performer":[{"reference":"Patient?family=Other"}]`)},
		{"an extension", "POST", "/Observation", fhirJSON, obs(`,"extension":[{"url":"http://example.org/x","valueReference":{"reference":"Patient/p2"}}]`)},
		{"a contained resource", "POST", "/Observation", fhirJSON, obs(`,"contained":[{"resourceType":"RelatedPerson","id":"rp","patient":{"reference":"Patient/p2"}}],"performer":[{"reference":"#rp"}]`)},
		{"Patient.link", "PUT", "/Patient/p1", fhirJSON, `{"resourceType":"Patient","id":"p1","link":[{"other":{"reference":"Patient/p2"},"type":"seealso"}]}`},
		{"a patch", "PATCH", "/Observation/o1", "application/json-patch+json", `[{"op":"add","path":"/performer/-","value":{"reference":"Patient/p2"}}]`},
		{"a transaction entry", "POST", "", fhirJSON, bundleOne("transaction", "Observation", obs(`,"performer":[{"reference":"Patient/p2"}]`))},
	}
	for _, tok := range []struct{ name, token string }{{"a clinician in a patient's context", clinician}, {"a patient", patient}} {
		for _, tc := range refused {
			t.Run(tok.name+": "+tc.name, func(t *testing.T) {
				if tc.path == "/Patient/p1" && tok.token == patient {
					t.Skip("patients may not write their Patient resource")
				}
				before := ownerCount(t, ts, `SELECT count(*) FROM resource_version`)
				r := ts.doWith(tok.token, tc.method, tc.path, tc.contentType, tc.body)
				assertOutcome(t, r, 403, "forbidden", "")
				assert.Equal(t, before, ownerCount(t, ts, `SELECT count(*) FROM resource_version`), "nothing stored")
			})
		}
		t.Run(tok.name+": its own patient", func(t *testing.T) {
			for _, extra := range []string{`,"performer":[{"reference":"Patient/p1"}]`, `,"performer":[{"reference":"` + ts.URL + `/Patient/p1"}]`, `,"performer":[{"reference":"Practitioner/dr1"}]`} {
				r := ts.doWith(tok.token, "POST", "/Observation", fhirJSON, obs(extra))
				assert.Equal(t, 201, r.Status, "%s", r.Body)
			}
		})
	}
	assert.Equal(t, 1, ownerCount(t, ts, `SELECT count(*) FROM resource_version WHERE 'p2' = ANY(patients)  AND type = 'Observation'`), "o2 alone is p2's")
}

// members is the references of a Group's members ("" for one named by
// identifier).
func members(g map[string]any) []string {
	var out []string
	for _, m := range asList(g["member"]) {
		ref, _ := m["entity"].(map[string]any)["reference"].(string)
		out = append(out, ref)
	}
	return out
}

func subsetted(r map[string]any) bool {
	meta, _ := r["meta"].(map[string]any)
	for _, tag := range asList(meta["tag"]) {
		if tag["code"] == "SUBSETTED" {
			return true
		}
	}
	return false
}

// groupsIn are the Groups of a Bundle.
func groupsIn(t *testing.T, r response) []map[string]any {
	t.Helper()
	require.Equal(t, 200, r.Status, "%s", r.Body)
	var out []map[string]any
	for _, e := range asList(r.json(t)["entry"]) {
		if res, _ := e["resource"].(map[string]any); res["resourceType"] == "Group" {
			out = append(out, res)
		}
	}
	return out
}

// A Group read by a token that may not see all its members lists only
// those it may see, tagged SUBSETTED and without the narrative that may
// name the others, on every path a Group is read by; the stored Group is
// whole, and its subsetted form cannot be written back.
func TestGroupMembersFilteredToWhatTheTokenSees(t *testing.T) {
	t.Parallel()
	ts := launchServer(t) // doc (dr1) cares for p1
	ctx := context.Background()
	ts.put("Group", "g1", `{"resourceType":"Group","type":"person","actual":true,"quantity":2,
		"text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">Peter Chalmers, Olive Other</div>"},
		"member":[{"entity":{"reference":"Patient/p1"}},{"entity":{"reference":"Patient/p2"}},{"entity":{"type":"Patient","identifier":{"system":"urn:mrn","value":"2"}}}]}`)
	require.NoError(t, ts.smart.AddUser(ctx, smart.User{Username: "pat", Password: password, Role: "patient", FHIRUser: "Patient/p1"}))
	tokens := map[string]string{
		"a patient":                          userTokenFor(t, ts, "app", "pat", "openid fhirUser user/*.rs"),
		"a patient's app":                    userTokenFor(t, ts, "app", "pat", "openid fhirUser patient/*.rs"),
		"a clinician in a patient's context": launchToken(t, ts, "launch/patient openid fhirUser patient/*.rs", nil, nil)["access_token"].(string),
		"a clinician":                        userTokenFor(t, ts, "app", "doc", "openid fhirUser user/*.rs"),
	}
	paths := map[string]func(t *testing.T, token string) []map[string]any{
		"read": func(t *testing.T, token string) []map[string]any {
			return []map[string]any{fhirGet(ts, token, "/Group/g1").json(t)}
		},
		"vread": func(t *testing.T, token string) []map[string]any {
			return []map[string]any{fhirGet(ts, token, "/Group/g1/_history/1").json(t)}
		},
		"search": func(t *testing.T, token string) []map[string]any {
			return groupsIn(t, fhirGet(ts, token, "/Group?member=Patient/p1"))
		},
		"_revinclude": func(t *testing.T, token string) []map[string]any {
			return groupsIn(t, fhirGet(ts, token, "/Patient?_id=p1&_revinclude=Group:member"))
		},
		"$everything": func(t *testing.T, token string) []map[string]any {
			return groupsIn(t, fhirGet(ts, token, "/Patient/p1/$everything"))
		},
		"history": func(t *testing.T, token string) []map[string]any {
			return groupsIn(t, fhirGet(ts, token, "/Group/g1/_history"))
		},
	}
	for who, token := range tokens {
		for path, read := range paths {
			t.Run(who+" "+path, func(t *testing.T) {
				groups := read(t, token)
				require.Len(t, groups, 1)
				assert.Equal(t, []string{"Patient/p1"}, members(groups[0]))
				assert.True(t, subsetted(groups[0]), "tagged SUBSETTED")
				assert.Nil(t, groups[0]["text"], "the narrative names the others")
			})
		}
	}
	whole := ts.do("GET", "/Group/g1", "", "").json(t)
	assert.Len(t, asList(whole["member"]), 3, "a backend service sees the Group whole")
	assert.False(t, subsetted(whole))

	// The subsetted form, written back, would drop members.
	cruds, err := ts.smart.RegisterClient(ctx, smart.Client{ID: "ehr", Public: true, RedirectURIs: []string{appRedirect}, Scopes: []string{"user/*.cruds"}})
	require.NoError(t, err)
	_ = cruds
	doc := userTokenFor(t, ts, "ehr", "doc", "user/*.cruds")
	seen := fhirGet(ts, doc, "/Group/g1")
	assertOutcome(t, ts.doWith(doc, "PUT", "/Group/g1", fhirJSON, string(seen.Body)), 422, "processing", "Group.meta.tag")
	assert.Len(t, asList(ts.do("GET", "/Group/g1", "", "").json(t)["member"]), 3, "stored whole")

	// A patient's reach holds what its records point at, but never another
	// patient, even one the user may otherwise see.
	ts.put("Encounter", "e2", `{"resourceType":"Encounter","status":"in-progress","class":{"code":"AMB"},"subject":{"reference":"Patient/p2"},
		"participant":[{"individual":{"reference":"Practitioner/dr1"}}]}`)
	inContext := tokens["a clinician in a patient's context"]
	assert.Equal(t, 403, fhirGet(ts, inContext, "/Patient/p2").Status)
	assert.NotContains(t, entryKeys(t, fhirGet(ts, inContext, "/Group?_include=Group:member")), "Patient/p2")
}
