package main_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirserver/fhirserver/storage/embedded"
)

// keys rotate-data beside a running server: within a second the server
// seals new writes under the new key, and reads and finds what it sealed
// under the old one as before.
func TestRotateDataKeyWhileServing(t *testing.T) {
	dir := dataDir(t)
	out, err := fhirserver(t, "clients", "add", "--data-dir", dir, "--id", "app", "--secret", "s3cret", "--scope", "system/*.cruds")
	require.NoError(t, err, out)
	s := serve(t, dir)
	tok := s.token(t, "app", "s3cret", "system/Patient.cruds")
	put := func(id, ssn string) {
		status, body := s.fhir(t, tok, "PUT", "/Patient/"+id, `{"resourceType":"Patient","id":"`+id+`","identifier":[{"system":"http://hl7.org/fhir/sid/us-ssn","value":"`+ssn+`"}]}`)
		require.Equal(t, 201, status, "%s", body)
	}
	put("before", "111-11-1111")
	out, err = fhirserver(t, "keys", "rotate-data", "--data-dir", dir)
	require.NoError(t, err, out)
	assert.Contains(t, out, "data key generation 2 seals new writes")
	time.Sleep(1100 * time.Millisecond)
	put("after", "222-22-2222")

	for id, ssn := range map[string]string{"before": "111-11-1111", "after": "222-22-2222"} {
		status, body := s.fhir(t, tok, "GET", "/Patient/"+id, "")
		assert.Equal(t, 200, status)
		assert.Contains(t, string(body), ssn)
		status, body = s.fhir(t, tok, "GET", "/Patient?identifier=http://hl7.org/fhir/sid/us-ssn|"+ssn, "")
		assert.Equal(t, 200, status)
		assert.Contains(t, string(body), `/Patient/`+id+`"`, "found by the blind index")
	}
	assert.Equal(t, map[string]int32{"before": 1, "after": 2}, sealedUnder(t, dir))

	out, err = fhirserver(t, "-h")
	require.NoError(t, err, out)
	assert.Contains(t, out, "keys rotate-data")
}

// sealedUnder is the generation of the data key that sealed each patient's
// SSN, from the embedded cluster the server runs.
func sealedUnder(t *testing.T, dir string) map[string]int32 {
	ctx := context.Background()
	c, err := embedded.Start(ctx, dir, "fhir", slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	defer c.Stop(ctx)
	conn, err := pgx.Connect(ctx, c.URL("fhir"))
	require.NoError(t, err)
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT id, ('x' || encode(substring(decode(resource #>> '{identifier,0,_value,extension,0,valueBase64Binary}', 'base64') FROM 5 FOR 4), 'hex'))::bit(32)::int
		FROM resource_version WHERE type = 'Patient'`)
	require.NoError(t, err)
	out := map[string]int32{}
	var id string
	var g int32
	_, err = pgx.ForEachRow(rows, []any{&id, &g}, func() error { out[strings.Clone(id)] = g; return nil })
	require.NoError(t, err)
	return out
}
