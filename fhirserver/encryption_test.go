package fhirserver_test

import (
	"context"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A government identifier is stored encrypted: a dump of the whole
// database holds no trace of it, while clients read it as written and find
// the patient by it (a blind index).
func TestSSNIsEncryptedAtRest(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	const ssn = "987-65-4329"
	body := `{"resourceType":"Patient","identifier":[{"system":"http://hl7.org/fhir/sid/us-ssn","value":"` + ssn + `"},{"system":"urn:mrn","value":"MRN-77"}],"name":[{"family":"Secret"}]}`
	created := ts.create("Patient", body)
	id := created["id"].(string)
	assert.Contains(t, string(mustJSON(t, created)), ssn, "the client gets what it wrote")
	assert.Contains(t, string(ts.do("GET", "/Patient/"+id, "", "").Body), ssn)
	assert.Contains(t, string(ts.do("GET", "/Patient/"+id+"/_history/1", "", "").Body), ssn)
	assert.Equal(t, []string{"Patient/" + id}, entryKeys(t, ts.do("GET", "/Patient?identifier=http://hl7.org/fhir/sid/us-ssn|"+ssn, "", "")), "the blind index")
	assert.Empty(t, entryKeys(t, ts.do("GET", "/Patient?identifier=http://hl7.org/fhir/sid/us-ssn|987-65-0000", "", "")))
	assert.Equal(t, []string{"Patient/" + id}, entryKeys(t, ts.do("GET", "/Patient?identifier=urn:mrn|MRN-77", "", "")), "other identifiers as before")
	r := ts.do("POST", "/Patient", fhirJSON, body, "If-None-Exist", "identifier=http://hl7.org/fhir/sid/us-ssn|"+ssn)
	assert.Equal(t, 200, r.Status, "a conditional create finds it too: %s", r.Body)
	// A transaction carrying another SSN: its raw body is logged, sealed.
	tx := ts.do("POST", "", fhirJSON, `{"resourceType":"Bundle","type":"transaction","entry":[{"request":{"method":"POST","url":"Patient"},
		"resource":{"resourceType":"Patient","identifier":[{"system":"http://hl7.org/fhir/sid/us-ssn","value":"123-45-6780"}]}}]}`)
	require.Equal(t, 200, tx.Status, "%s", tx.Body)
	inbound, err := ts.store.Inbound(context.Background())
	require.NoError(t, err)
	assert.Contains(t, string(inbound[len(inbound)-1].Body), "123-45-6780", "the log reads back whole")

	// Addresses, notes and a sensitive condition are encrypted whole.
	home := ts.create("Patient", `{"resourceType":"Patient","name":[{"family":"Homer"}],"address":[{"line":["742 Evergreen Terrace"],"city":"Springfield","postalCode":"49007"}],
		"note":[{"text":"a confidential remark"}]}`)
	hid := home["id"].(string)
	cond := ts.create("Condition", `{"resourceType":"Condition","subject":{"reference":"Patient/`+hid+`"},
		"code":{"coding":[{"system":"http://hl7.org/fhir/sid/icd-10-cm","code":"B20","display":"HIV disease"}]},"note":[{"text":"disclosed in confidence"}]}`)
	read := string(ts.do("GET", "/Patient/"+hid, "", "").Body)
	assert.Contains(t, read, "742 Evergreen Terrace")
	assert.Contains(t, read, "a confidential remark")
	assert.Contains(t, string(ts.do("GET", "/Condition/"+cond["id"].(string), "", "").Body), "HIV disease")
	assert.Equal(t, []string{"Patient/" + hid}, entryKeys(t, ts.do("GET", "/Patient?address-city=springfield", "", "")), "a whole address value, any case")
	assert.Empty(t, entryKeys(t, ts.do("GET", "/Patient?address-city=spring", "", "")), "not by prefix: the index holds no letters")
	assert.Equal(t, []string{"Patient/" + hid}, entryKeys(t, ts.do("GET", "/Patient?address-postalcode:exact=49007", "", "")))
	assert.Len(t, entryKeys(t, ts.do("GET", "/Condition?code=B20", "", "")), 1)
	// The patient moves: new index rows, the old version as it was.
	moved := ts.do("PUT", "/Patient/"+hid, fhirJSON, `{"resourceType":"Patient","id":"`+hid+`","name":[{"family":"Homer"}],"address":[{"city":"Shelbyville"}]}`)
	require.Equal(t, 200, moved.Status, "%s", moved.Body)
	assert.Empty(t, entryKeys(t, ts.do("GET", "/Patient?address-city=springfield", "", "")))
	assert.Equal(t, []string{"Patient/" + hid}, entryKeys(t, ts.do("GET", "/Patient?address-city=shelbyville", "", "")))
	assert.Contains(t, string(ts.do("GET", "/Patient/"+hid+"/_history/1", "", "").Body), "Springfield")
	assert.Len(t, entryKeys(t, ts.do("GET", "/Condition?code=http://hl7.org/fhir/sid/icd-10-cm|B20&patient="+hid, "", "")), 1)

	// Every byte the database holds, as pg_dump writes it.
	dump, err := exec.Command("pg_dump", "--data-only", ts.owner).Output()
	if err != nil {
		// pg_dump may be missing from PATH: read every table instead.
		dump = []byte(dumpTables(t, ts.owner))
	}
	assert.NotContains(t, string(dump), ssn)
	assert.NotContains(t, string(dump), "123-45-6780")
	for _, secret := range []string{"Evergreen", "Springfield", "springfield", "Shelbyville", "49007", "confidential", "HIV disease", `"B20"`, "disclosed"} {
		assert.NotContains(t, string(dump), secret)
	}
	for _, ev := range auditEvents(t, ts) {
		s := summarize(ev)
		assert.NotContains(t, s.Query, ssn, "nor the audit log, even decoded")
		assert.NotContains(t, s.Query, "springfield")
		assert.NotContains(t, s.Query, "B20")
	}
	assert.NotContains(t, string(dump), strings.ReplaceAll(ssn, "-", ""))
	assert.Contains(t, string(dump), "MRN-77", "the dump is real")
}

func dumpTables(t *testing.T, owner string) string {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, owner)
	require.NoError(t, err)
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT tablename FROM pg_tables WHERE schemaname = 'public'`)
	require.NoError(t, err)
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	var b strings.Builder
	for _, table := range tables {
		var text string
		require.NoError(t, conn.QueryRow(ctx, `SELECT coalesce(string_agg(t::text, E'\n'), '') FROM `+pgx.Identifier{table}.Sanitize()+` t`).Scan(&text))
		b.WriteString(text)
	}
	return b.String()
}

func mustJSON(t *testing.T, v any) []byte {
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}
