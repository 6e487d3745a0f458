package main_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirserver/fhirserver/conformance/fixtures"
)

// fhirserver load takes every bundle in the shared fixtures, written by
// others, without an error, and keeps the ids conformance suites query.
func TestLoadEveryFixture(t *testing.T) {
	if testing.Short() {
		t.Skip("loads every fixture")
	}
	root := fixtures.Root()
	if root == "" {
		t.Skip("no fixtures found: set FHIR_FIXTURES to the shared fixtures directory")
	}
	dir := dataDir(t)
	var dirs []string
	for _, d := range fixtures.Folders {
		dirs = append(dirs, filepath.Join(root, d))
	}
	out, err := fhirserver(t, append([]string{"load", "--data-dir", dir}, dirs...)...)
	require.NoError(t, err, out)
	assert.Contains(t, out, "loaded 41 files")

	ndjson := filepath.Join(t.TempDir(), "patients.ndjson")
	require.NoError(t, os.WriteFile(ndjson, []byte(`{"resourceType":"Patient","id":"nd1"}
{"resourceType":"Patient","id":"nd2","gender":"other"}
`), 0o644))
	out, err = fhirserver(t, "load", "--data-dir", dir, ndjson)
	require.NoError(t, err, out)

	out, err = fhirserver(t, "clients", "add", "--data-dir", dir, "--id", "reader", "--secret", "r", "--scope", "system/*.read")
	require.NoError(t, err, out)
	s := serve(t, dir)
	tok := s.token(t, "reader", "r", "system/*.read")
	for _, path := range []string{"/Patient/85", "/Patient/355", "/Patient/907", "/Group/1a", "/Patient/nd2"} {
		status, body := s.fhir(t, tok, "GET", path, "")
		assert.Equal(t, 200, status, "%s: %.300s", path, body)
	}
	status, _ := s.fhir(t, tok, "POST", "/Patient", `{"resourceType":"Patient"}`)
	assert.Equal(t, 403, status, "a read scope cannot create")

	out, err = fhirserver(t, "load", "--data-dir", dir, filepath.Join(root, "us-core", "uscore_bundle_patient_85.json"))
	require.NoError(t, err, "loading again updates in place: %s", out)
}
