package fhirserver_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirserver/fhirserver/smart"
)

func breakGlassBody(justification, purpose string) string {
	return fmt.Sprintf(`{"resourceType":"Parameters","parameter":[{"name":"justification","valueString":%q},{"name":"purpose","valueCode":%q}]}`,
		justification, purpose)
}

// Break-glass: recorded before access, granted at once to that patient
// alone, every access under it audited as BTG, and a review Task for the
// privacy officer that no one can delete or change but by reviewing it.
func TestBreakGlass(t *testing.T) {
	t.Parallel()
	ts := launchServer(t) // doc (dr1) cares for p1, not p2
	ctx := context.Background()
	_, err := ts.smart.RegisterClient(ctx, smart.Client{ID: "ehr", Public: true, RedirectURIs: []string{appRedirect}, Scopes: []string{"user/*.cruds"}})
	require.NoError(t, err)
	require.NoError(t, ts.smart.AddUser(ctx, smart.User{Username: "officer", Password: password, Role: "privacy-officer"}))
	doc := userTokenFor(t, ts, "ehr", "doc", "user/*.cruds")
	officer := userTokenFor(t, ts, "ehr", "officer", "user/*.cruds")

	assert.Equal(t, 404, fhirGet(ts, doc, "/Patient/p2").Status, "not doc's patient")
	for name, body := range map[string]string{
		"no justification":      breakGlassBody("", "ETREAT"),
		"a trivial one":         breakGlassBody("aaaaaaaaaaaaaaaaaaaaaaaaa", "ETREAT"),
		"a short one":           breakGlassBody("need it now", "ETREAT"),
		"no purpose":            breakGlassBody("Unconscious patient in the ED, allergies unknown", ""),
		"not Parameters at all": `{"resourceType":"Patient"}`,
	} {
		r := ts.doWith(doc, "POST", "/Patient/p2/$break-glass", fhirJSON, body)
		assert.Equal(t, 400, r.Status, "%s: %s", name, r.Body)
	}
	assert.Equal(t, 403, ts.do("POST", "/Patient/p2/$break-glass", fhirJSON, breakGlassBody("Unconscious patient in the ED, allergies unknown", "ETREAT")).Status,
		"a backend service does not break glass")
	assert.Equal(t, 404, fhirGet(ts, doc, "/Patient/p2").Status, "refused attempts grant nothing")

	r := ts.doWith(doc, "POST", "/Patient/p2/$break-glass", fhirJSON, breakGlassBody("Unconscious patient in the ED, allergies unknown", "ETREAT"))
	require.Equal(t, 200, r.Status, "%s", r.Body)
	var out struct{ Parameter []map[string]any }
	require.NoError(t, json.Unmarshal(r.Body, &out))
	task := strings.TrimPrefix(fmt.Sprint(out.Parameter[2]["valueReference"].(map[string]any)["reference"]), "Task/")

	assert.Equal(t, 200, fhirGet(ts, doc, "/Patient/p2").Status, "at once")
	assert.Equal(t, 200, fhirGet(ts, doc, "/Observation/o2").Status)
	assert.ElementsMatch(t, []string{"Patient/p1", "Patient/p2"}, entryKeys(t, fhirGet(ts, doc, "/Patient")), "that patient alone added")

	events := auditEvents(t, ts)
	last := events[len(events)-1]
	assert.Contains(t, fmt.Sprint(last["purposeOfEvent"]), "BTG", "access under break-glass is audited as such")

	conn, err := pgx.Connect(ctx, ts.owner)
	require.NoError(t, err)
	defer conn.Close(ctx)
	var justification, reviewTask string
	require.NoError(t, conn.QueryRow(ctx, `SELECT justification, review_task FROM break_glass WHERE username = 'doc' AND patient = 'p2'`).Scan(&justification, &reviewTask))
	assert.Equal(t, "Unconscious patient in the ED, allergies unknown", justification)
	assert.Equal(t, task, reviewTask)
	_, err = conn.Exec(ctx, `DELETE FROM break_glass`)
	assert.ErrorContains(t, err, "append-only", "the event stays")

	// The review Task: the privacy officer's to complete, no one's to delete.
	got := fhirGet(ts, officer, "/Task/"+task)
	require.Equal(t, 200, got.Status, "%s", got.Body)
	tk := got.json(t)
	assert.Equal(t, "requested", tk["status"])
	assert.Equal(t, "Patient/p2", tk["for"].(map[string]any)["reference"])
	admin := ts.tokenFor("system/*.cruds")
	assert.Equal(t, 403, ts.doWith(admin, "DELETE", "/Task/"+task, "", "").Status)
	assert.Equal(t, 403, ts.doWith(officer, "DELETE", "/Task/"+task, "", "").Status)
	edit := func(token string, change func(map[string]any)) int {
		body := fhirGet(ts, officer, "/Task/"+task).json(t)
		change(body)
		b, _ := json.Marshal(body)
		return ts.doWith(token, "PUT", "/Task/"+task, fhirJSON, string(b)).Status
	}
	assert.Equal(t, 403, edit(admin, func(m map[string]any) { m["status"] = "completed"; m["output"] = []any{review("appropriate")} }), "not the privacy officer")
	assert.Equal(t, 403, edit(officer, func(m map[string]any) { m["description"] = "nothing happened" }))
	assert.Equal(t, 400, edit(officer, func(m map[string]any) { m["status"] = "completed" }), "a review records its outcome")
	assert.Equal(t, 200, edit(officer, func(m map[string]any) { m["status"] = "completed"; m["output"] = []any{review("appropriate")} }))
	assert.Equal(t, 403, edit(officer, func(m map[string]any) { m["output"] = []any{review("inappropriate")} }), "a completed review stays")
	made := `{"resourceType":"Task","status":"requested","intent":"order","meta":{"tag":[{"system":"http://fhirserver.dev/fhir/CodeSystem/task-code","code":"break-glass-review"}]}}`
	assert.Equal(t, 403, ts.doWith(admin, "POST", "/Task", fhirJSON, made).Status, "nobody makes one through the API")
}

func review(outcome string) map[string]any {
	return map[string]any{"type": map[string]any{"text": "review outcome"}, "valueString": outcome}
}

// The break-glass event and its review Task commit together: when the
// event cannot be recorded, no review Task is left behind, and nothing
// is granted.
func TestBreakGlassEventAndReviewCommitTogether(t *testing.T) {
	t.Parallel()
	ts := launchServer(t)
	ctx := context.Background()
	_, err := ts.smart.RegisterClient(ctx, smart.Client{ID: "ehr", Public: true, RedirectURIs: []string{appRedirect}, Scopes: []string{"user/*.cruds"}})
	require.NoError(t, err)
	doc := userTokenFor(t, ts, "ehr", "doc", "user/*.cruds")
	conn, err := pgx.Connect(ctx, ts.owner)
	require.NoError(t, err)
	defer conn.Close(ctx)
	tasks := func() (n int) {
		require.NoError(t, conn.QueryRow(ctx, `SELECT count(*) FROM resource_version WHERE type = 'Task'`).Scan(&n))
		return n
	}
	refuseInserts(t, conn, "break_glass")
	before := tasks()
	r := ts.doWith(doc, "POST", "/Patient/p2/$break-glass", fhirJSON, breakGlassBody("Unconscious patient in the ED, allergies unknown", "ETREAT"))
	assert.GreaterOrEqual(t, r.Status, 500, "%s", r.Body)
	assert.Equal(t, before, tasks(), "no review Task without its event")
	assert.Equal(t, 404, fhirGet(ts, doc, "/Patient/p2").Status)

	allowInserts(t, conn, "break_glass")
	r = ts.doWith(doc, "POST", "/Patient/p2/$break-glass", fhirJSON, breakGlassBody("Unconscious patient in the ED, allergies unknown", "ETREAT"))
	require.Equal(t, 200, r.Status, "%s", r.Body)
	assert.Equal(t, before+1, tasks())
}
