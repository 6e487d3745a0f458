package fhirserver_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite golden files")

// golden compares a JSON document with testdata/name, after replacing the
// test server's address, and rewrites the file under -update.
func golden(t *testing.T, ts *testServer, name string, body []byte) {
	t.Helper()
	body = bytes.ReplaceAll(body, []byte(ts.URL[:len(ts.URL)-len("/fhir")]), []byte("http://SERVER"))
	var v any
	require.NoError(t, json.Unmarshal(body, &v))
	pretty, err := json.MarshalIndent(v, "", "  ")
	require.NoError(t, err)
	path := "testdata/" + name
	if *update {
		require.NoError(t, os.WriteFile(path, append(pretty, '\n'), 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test -update to create %s", path)
	assert.JSONEq(t, string(want), string(pretty))
}

func TestMetadataIsGenerated(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	r := ts.do("GET", "/metadata", "", "")
	require.Equal(t, 200, r.Status)
	golden(t, ts, "metadata.golden.json", r.Body)

	var cs struct {
		Rest []struct {
			Resource []struct {
				Type        string
				Interaction []struct{ Code string }
			}
		}
	}
	require.NoError(t, json.Unmarshal(r.Body, &cs))
	assert.Len(t, cs.Rest[0].Resource, 146, "every R4 resource type")
}
