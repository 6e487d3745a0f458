package fhirserver_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Allergy, consent and dispensing records (and the audit log) are never
// changed in place: a correction or a revocation is a new version row that
// follows the one it corrects, which stays as it was; the database refuses
// UPDATE and DELETE of any of them, whoever asks.
func TestClinicalRecordsAreCorrectedNotChanged(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	ctx := context.Background()
	records := map[string]string{
		"AllergyIntolerance": `{"resourceType":"AllergyIntolerance","id":"x","patient":{"reference":"Patient/p1"},"code":{"text":"penicillin"},
			"clinicalStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical","code":"active"}]}}`,
		"Consent":            `{"resourceType":"Consent","id":"x","status":"active","scope":{"text":"treatment"},"category":[{"text":"consent"}],"policyRule":{"text":"hipaa-auth"}}`,
		"MedicationDispense": `{"resourceType":"MedicationDispense","id":"x","status":"completed","medicationCodeableConcept":{"text":"amoxicillin"}}`,
	}
	conn, err := pgx.Connect(ctx, ts.owner)
	require.NoError(t, err)
	defer conn.Close(ctx)
	for typ, body := range records {
		t.Run(typ, func(t *testing.T) {
			require.Equal(t, 201, ts.do("PUT", "/"+typ+"/x", fhirJSON, body).Status)
			corrected := ts.do("PUT", "/"+typ+"/x", fhirJSON, body[:len(body)-1]+`,"text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">corrected</div>"}}`)
			require.Equal(t, 200, corrected.Status, "%s", corrected.Body)
			require.Equal(t, 204, ts.do("DELETE", "/"+typ+"/x", "", "").Status, "a revocation")
			var versions int
			var first string
			require.NoError(t, conn.QueryRow(ctx, `SELECT count(*), min(resource::text) FILTER (WHERE version = 1) FROM resource_version WHERE type = $1 AND id = 'x'`, typ).Scan(&versions, &first))
			assert.Equal(t, 3, versions, "the record, its correction and its revocation")
			assert.NotContains(t, first, "corrected", "the first version is as it was")
			assert.Equal(t, 200, ts.do("GET", "/"+typ+"/x/_history/1", "", "").Status)
			for _, stmt := range []string{`UPDATE resource_version SET resource = '{}' WHERE type = $1`, `DELETE FROM resource_version WHERE type = $1`} {
				_, err := conn.Exec(ctx, stmt, typ)
				assert.ErrorContains(t, err, "append-only", stmt)
			}
		})
	}
}
