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
	// By default a resource that breaks a profile it claims is refused:
	// patient 908 follows US Core 8.0.0 (gender optional), not 6.1.0.
	out, err := fhirserver(t, "load", "--data-dir", dataDir(t), filepath.Join(root, "us-core", "uscore_bundle_patient_908.json"))
	require.Error(t, err, out)
	assert.Contains(t, out, "Patient.gender: at least 1 required by the profile")
	// The fixtures were written for other versions of US Core than 6.1.0
	// (Synthea's for 3.1): an operator loads them with warnings instead.
	out, err = fhirserver(t, append([]string{"load", "--data-dir", dir, "--profile-errors", "warn"}, dirs...)...)
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
