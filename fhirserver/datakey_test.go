package fhirserver_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Three generations of the data key, two rotations apart: each sealed what
// was written under it, and every version reads and is found by its SSN,
// its address and its sensitive code, whichever key sealed it.
func TestEveryDataKeyGenerationStaysReadableAndSearchable(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	ssn := func(g int) string { return fmt.Sprintf("900-00-%04d", g) }
	city := func(g int) string { return fmt.Sprintf("Keytown%d", g) }
	for g := 1; g <= 3; g++ {
		if g > 1 {
			_, err := ts.cipher.Rotate(context.Background())
			require.NoError(t, err)
		}
		patient := func(id string) string {
			return `{"resourceType":"Patient","id":"` + id + `","identifier":[{"system":"http://hl7.org/fhir/sid/us-ssn","value":"` + ssn(g) + `"}],` +
				`"address":[{"city":"` + city(g) + `"}]}`
		}
		for _, id := range []string{fmt.Sprintf("p%d", g), "moving"} {
			r := ts.do("PUT", "/Patient/"+id, fhirJSON, patient(id))
			require.Contains(t, []int{200, 201}, r.Status, "%s", r.Body)
		}
		r := ts.do("PUT", fmt.Sprintf("/Condition/c%d", g), fhirJSON, fmt.Sprintf(`{"resourceType":"Condition","id":"c%d","subject":{"reference":"Patient/p%d"},
			"code":{"coding":[{"system":"http://hl7.org/fhir/sid/icd-10-cm","code":"B20","display":"HIV disease %d"}]}}`, g, g, g))
		require.Equal(t, 201, r.Status, "%s", r.Body)
	}

	for g := 1; g <= 3; g++ {
		p := fmt.Sprintf("Patient/p%d", g)
		read := string(ts.do("GET", "/"+p, "", "").Body)
		assert.Contains(t, read, ssn(g))
		assert.Contains(t, read, city(g))
		version := string(ts.do("GET", fmt.Sprintf("/Patient/moving/_history/%d", g), "", "").Body)
		assert.Contains(t, version, ssn(g))
		assert.Contains(t, version, city(g))
		assert.Contains(t, string(ts.do("GET", fmt.Sprintf("/Condition/c%d", g), "", "").Body), fmt.Sprintf("HIV disease %d", g))
		assert.Equal(t, []string{p}, entryKeys(t, ts.do("GET", "/Patient?_id=p1,p2,p3&identifier=http://hl7.org/fhir/sid/us-ssn|"+ssn(g), "", "")), "generation %d", g)
		assert.Equal(t, []string{p}, entryKeys(t, ts.do("GET", "/Patient?_id=p1,p2,p3&address-city="+city(g), "", "")), "generation %d", g)
		assert.Equal(t, []string{fmt.Sprintf("Condition/c%d", g)}, entryKeys(t, ts.do("GET", fmt.Sprintf("/Condition?code=http://hl7.org/fhir/sid/icd-10-cm|B20&patient=p%d", g), "", "")))
	}
	assert.ElementsMatch(t, []string{"Condition/c1", "Condition/c2", "Condition/c3"}, entryKeys(t, ts.do("GET", "/Condition?code=B20", "", "")))

	keys := sealingKeys(t, ts.owner)
	for g := 1; g <= 3; g++ {
		for _, r := range []string{fmt.Sprintf("Patient/p%d", g), fmt.Sprintf("Patient/moving/%d", g), fmt.Sprintf("Condition/c%d", g)} {
			assert.Equal(t, []int32{int32(g)}, keys[r], "%s: every value it seals, under generation %d", r, g)
		}
	}
	assert.Equal(t, []int32{1, 2, 3}, keys["data_key"], "a row, and a key, per generation")
}

// sealingKeys names, per resource ("Type/id") and per version
// ("Type/id/version"), the generations of the data keys that sealed its
// values (each sealed value names its own in its first 8 bytes), and under
// "data_key" the generations of the field encryption keys stored.
func sealingKeys(t *testing.T, url string) map[string][]int32 {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	require.NoError(t, err)
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `WITH sealed AS (
			SELECT v.type || '/' || v.id AS r, v.version, ('x' || encode(substring(s FROM 5 FOR 4), 'hex'))::bit(32)::int AS generation
			FROM resource_version v, jsonb_path_query(v.resource, 'strict $.**.valueBase64Binary') b, decode(b #>> '{}', 'base64') s
			WHERE substring(s FROM 1 FOR 4) = '\xfe67656e'::bytea)
		SELECT r, array_agg(DISTINCT generation) FROM sealed GROUP BY r
		UNION ALL SELECT r || '/' || version, array_agg(DISTINCT generation) FROM sealed GROUP BY r, version
		UNION ALL SELECT 'data_key', array_agg(generation ORDER BY generation) FROM data_key WHERE purpose = 'field encryption'`)
	require.NoError(t, err)
	out := map[string][]int32{}
	var r string
	var gens []int32
	_, err = pgx.ForEachRow(rows, []any{&r, &gens}, func() error { out[r] = gens; return nil })
	require.NoError(t, err)
	return out
}
