package fhirserver_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirserver/fhirserver/smart"
)

// asCare runs fn in a transaction of the application's restricted role
// with the identity a clinician's request would set: no application code
// between the queries and the rows.
func asCare(t *testing.T, ts *testServer, practitioner, patients string, fn func(tx pgx.Tx) error) error {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, ts.owner)
	require.NoError(t, err)
	defer conn.Close(ctx)
	tx, err := conn.Begin(ctx)
	require.NoError(t, err)
	defer tx.Rollback(ctx)
	_, err = tx.Exec(ctx, `SELECT set_config('role', 'fhir_care', true), set_config('fhir.practitioner', $1, true), set_config('fhir.patients', $2, true)`,
		practitioner, patients)
	require.NoError(t, err)
	return fn(tx)
}

// rawQuery runs a query as the restricted role and returns its error.
func rawQuery(t *testing.T, ts *testServer, query string) error {
	return asCare(t, ts, "", "", func(tx pgx.Tx) error {
		_, err := tx.Exec(context.Background(), query)
		return err
	})
}

// rawKeys returns what a query as the restricted role sees.
func rawKeys(t *testing.T, ts *testServer, practitioner, patients, query string) []string {
	t.Helper()
	var keys []string
	require.NoError(t, asCare(t, ts, practitioner, patients, func(tx pgx.Tx) error {
		rows, err := tx.Query(context.Background(), query)
		if err != nil {
			return err
		}
		keys, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	}))
	return keys
}

// Minimum necessary, in the database: a clinician's queries return only
// the patients of their active care relationships, whatever the query.
func TestCareRelationshipsHoldInTheDatabase(t *testing.T) {
	t.Parallel()
	ts := launchServer(t) // dr1 has an encounter in progress with p1; none with p2
	ts.put("Encounter", "e2", `{"resourceType":"Encounter","status":"finished","class":{"code":"AMB"},"subject":{"reference":"Patient/p2"},
		"participant":[{"individual":{"reference":"Practitioner/dr1"}}]}`)
	all := `SELECT type || '/' || id FROM resource_version`

	seen := rawKeys(t, ts, "dr1", "", all)
	assert.Subset(t, seen, []string{"Patient/p1", "Observation/o1", "Encounter/e1", "Practitioner/dr1", "Practitioner/dr2"})
	for _, k := range []string{"Patient/p2", "Observation/o2", "Encounter/e2"} {
		assert.NotContains(t, seen, k, "a finished encounter is no care relationship")
	}
	assert.Empty(t, rawKeys(t, ts, "dr1", "", `SELECT id FROM search_string WHERE value LIKE 'other%'`), "nor p2's name in the index")
	assert.Empty(t, rawKeys(t, ts, "dr1", "", `SELECT id FROM search_reference WHERE target_type = 'Patient' AND target_id = 'p2'`))
	assert.ErrorContains(t, rawQuery(t, ts, `SELECT sender FROM inbound_log`), "permission denied", "nor any request body")
	assert.NotContains(t, rawKeys(t, ts, "", "", all), "Patient/p1", "no relationship, no patient")
	assert.Contains(t, rawKeys(t, ts, "dr1", "p2", all), "Observation/o2", "a patient given explicitly (break-glass)")

	// Through the API, the same rows: the clinician's searches and reads.
	ctx := context.Background()
	_, err := ts.smart.RegisterClient(ctx, smart.Client{ID: "ehr", Public: true, RedirectURIs: []string{appRedirect}, Scopes: []string{"user/*.cruds"}})
	require.NoError(t, err)
	require.NoError(t, ts.smart.AddUser(ctx, smart.User{Username: "kildare", Password: password, Role: "clinician", FHIRUser: "Practitioner/dr2"}))
	doc := userTokenFor(t, ts, "ehr", "doc", "user/*.cruds")
	kildare := userTokenFor(t, ts, "ehr", "kildare", "user/*.cruds")
	assert.Equal(t, []string{"Patient/p1"}, entryKeys(t, fhirGet(ts, doc, "/Patient")))
	assert.Equal(t, 404, fhirGet(ts, doc, "/Patient/p2").Status)
	assert.Empty(t, entryKeys(t, fhirGet(ts, kildare, "/Patient")), "dr2 cares for nobody yet")

	// A care team makes a relationship, for the next request.
	ts.put("CareTeam", "ct1", `{"resourceType":"CareTeam","status":"active","subject":{"reference":"Patient/p2"},
		"participant":[{"member":{"reference":"Practitioner/dr2"}}]}`)
	assert.Equal(t, []string{"Patient/p2"}, entryKeys(t, fhirGet(ts, kildare, "/Patient")))
	assert.Equal(t, []string{"Observation/o2"}, entryKeys(t, fhirGet(ts, kildare, "/Observation")))
	// An appointment booked with dr2 for p1 too.
	ts.put("Appointment", "a1", `{"resourceType":"Appointment","status":"booked","start":"2026-11-28T09:00:00Z","end":"2026-11-28T09:30:00Z","participant":[
		{"actor":{"reference":"Patient/p1"},"status":"accepted"},{"actor":{"reference":"Practitioner/dr2"},"status":"accepted"}]}`)
	assert.ElementsMatch(t, []string{"Patient/p1", "Patient/p2"}, entryKeys(t, fhirGet(ts, kildare, "/Patient")))
	// The encounter ends: dr1's relationship with p1 ends with it.
	ts.put("Encounter", "e1", `{"resourceType":"Encounter","status":"finished","class":{"code":"AMB"},"subject":{"reference":"Patient/p1"},
		"participant":[{"individual":{"reference":"Practitioner/dr1"}}]}`)
	assert.Empty(t, entryKeys(t, fhirGet(ts, doc, "/Patient")))
	// A backend service is held by its scopes alone.
	assert.Len(t, entryKeys(t, ts.do("GET", "/Patient", "", "")), 2)
}
