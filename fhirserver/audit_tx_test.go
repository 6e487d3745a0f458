package fhirserver_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirserver/fhirserver/smart"
)

// No write without its audit record: when the audit log refuses inserts,
// every kind of write is refused with a 5xx and stores nothing, neither
// the resource nor what an operation keeps beside it.
func TestAWriteWhoseAuditFailsIsNotStored(t *testing.T) {
	t.Parallel()
	ts := launchServer(t) // doc (dr1) cares for p1, not p2
	ctx := context.Background()
	_, err := ts.smart.RegisterClient(ctx, smart.Client{ID: "ehr", Public: true, RedirectURIs: []string{appRedirect}, Scopes: []string{"user/*.cruds"}})
	require.NoError(t, err)
	doc := userTokenFor(t, ts, "ehr", "doc", "user/*.cruds")
	ts.put("Schedule", "sch", `{"resourceType":"Schedule","actor":[{"reference":"Practitioner/drx"}]}`)
	slot := ts.create("Slot", apiSlot("sch", time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, 3).Add(9*time.Hour)))["id"].(string)

	conn, err := pgx.Connect(ctx, ts.owner)
	require.NoError(t, err)
	defer conn.Close(ctx)
	stored := func() (n int) {
		t.Helper()
		require.NoError(t, conn.QueryRow(ctx, `SELECT (SELECT count(*) FROM resource_version) + (SELECT count(*) FROM break_glass)
			+ (SELECT count(*) FROM appointment_event)`).Scan(&n))
		return n
	}
	refuseInserts(t, conn, "audit_link")
	before := stored()

	patient := `{"resourceType":"Patient","name":[{"family":"Unaudited"}]}`
	for _, w := range []struct {
		name, method, path, contentType, body, token string
	}{
		{"create", "POST", "/Patient", fhirJSON, patient, ts.token},
		{"update", "PUT", "/Patient/p1", fhirJSON, `{"resourceType":"Patient","id":"p1","name":[{"family":"Changed"}]}`, ts.token},
		{"create by update", "PUT", "/Patient/new1", fhirJSON, `{"resourceType":"Patient","id":"new1"}`, ts.token},
		{"patch", "PATCH", "/Patient/p1", "application/json-patch+json", `[{"op":"replace","path":"/birthDate","value":"1970-01-01"}]`, ts.token},
		{"delete", "DELETE", "/Observation/o1", "", "", ts.token},
		{"conditional delete", "DELETE", "/Observation?subject=Patient/p2", "", "", ts.token},
		{"transaction", "POST", "", fhirJSON, `{"resourceType":"Bundle","type":"transaction","entry":[
			{"fullUrl":"urn:uuid:0c3151bd-1cbf-4d64-b04d-cd9187a4c6e0","resource":` + patient + `,"request":{"method":"POST","url":"Patient"}}]}`, ts.token},
		{"batch", "POST", "", fhirJSON, `{"resourceType":"Bundle","type":"batch","entry":[
			{"resource":` + patient + `,"request":{"method":"POST","url":"Patient"}}]}`, ts.token},
		{"$book", "POST", "/Appointment/$book", fhirJSON, bookBody(slot), ts.token},
		{"$break-glass", "POST", "/Patient/p2/$break-glass", fhirJSON, breakGlassBody("Unconscious patient in the ED, allergies unknown", "ETREAT"), doc},
	} {
		r := ts.doWith(w.token, w.method, w.path, w.contentType, w.body)
		assert.GreaterOrEqual(t, r.Status, 500, "%s: %s", w.name, r.Body)
		if w.method != "DELETE" || r.Status != http.StatusOK {
			assert.Equal(t, "OperationOutcome", r.json(t)["resourceType"], w.name)
		}
		assert.Equal(t, before, stored(), "%s stored something unaudited", w.name)
	}
	assert.Equal(t, 404, fhirGet(ts, doc, "/Patient/p2").Status, "a refused break-glass grants nothing")

	allowInserts(t, conn, "audit_link")
	r := ts.do("POST", "/Patient", fhirJSON, patient)
	require.Equal(t, 201, r.Status, "%s", r.Body)
	assert.Equal(t, before+1, stored(), "the same write goes through once the log takes records")
}

// refuseInserts makes the database refuse every insert into table, as a
// full disk or a broken log would: a test's database only (the owner's
// connection may add triggers).
func refuseInserts(t *testing.T, conn *pgx.Conn, table string) {
	t.Helper()
	_, err := conn.Exec(context.Background(), `
		CREATE OR REPLACE FUNCTION refuse_insert() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'inserts refused'; END $$;
		CREATE TRIGGER refuse_insert BEFORE INSERT ON `+table+` FOR EACH ROW EXECUTE FUNCTION refuse_insert()`)
	require.NoError(t, err)
}

// allowInserts undoes refuseInserts.
func allowInserts(t *testing.T, conn *pgx.Conn, table string) {
	t.Helper()
	_, err := conn.Exec(context.Background(), `DROP TRIGGER refuse_insert ON `+table)
	require.NoError(t, err)
}
