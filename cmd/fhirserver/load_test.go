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
	// Every fixture loads with the defaults, in the fixtures README's
	// order: each version of US Core its data was written to is held.
	out, err := fhirserver(t, append([]string{"load", "--data-dir", dir}, dirs...)...)
	require.NoError(t, err, out)
	assert.Contains(t, out, "loaded 41 files")
	assert.Regexp(t, `(?m)^  Patient +31$`, out)
	assert.NotContains(t, out, "refused")
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

// A load keeps a record that breaks a profile it claims, reporting it by
// profile and message, and refuses (and reports) what is not valid R4,
// going on with the other files; --profile-errors reject refuses both.
func TestLoadReportsAndKeepsGoing(t *testing.T) {
	in := t.TempDir()
	files := map[string]string{
		"a-good.json":      `{"resourceType":"Patient","id":"good"}`,
		"b-invalid.json":   `{"resourceType":"Patient","id":"bad","gender":"F"}`,
		"c-breaks.json":    `{"resourceType":"Patient","id":"breaks","meta":{"profile":["http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient|6.1.0"]},"name":[{"family":"Doe"}],"identifier":[{"value":"1"}]}`,
		"d-lines.ndjson":   "{\"resourceType\":\"Patient\",\"id\":\"nd1\"}\n{\"resourceType\":\"Patient\",\"id\":\"nd2\",\"birthDate\":\"1970-13-01\"}\n",
		"e-also-good.json": `{"resourceType":"Observation","id":"o1","status":"final","code":{"text":"x"}}`,
	}
	for name, body := range files {
		require.NoError(t, os.WriteFile(filepath.Join(in, name), []byte(body), 0o644))
	}
	dir := dataDir(t)
	out, err := fhirserver(t, "load", "--data-dir", dir, in)
	require.Error(t, err, "what was refused fails the command: %s", out)
	assert.Regexp(t, `(?m)^  Patient +2$`, out, "good and breaks")
	assert.Regexp(t, `(?m)^  Observation +1$`, out, "the files after a refused one still load")
	assert.Contains(t, out, "http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient|6.1.0\n    Patient.gender: at least 1 required by the profile, 0 present (1)")
	assert.Contains(t, out, "b-invalid.json: 400: ")
	assert.Contains(t, out, "(Bundle.entry[0].resource.gender)")
	assert.Contains(t, out, "d-lines.ndjson: lines 1-2: 400: ")

	out, err = fhirserver(t, "load", "--data-dir", dataDir(t), "--profile-errors", "reject", filepath.Join(in, "c-breaks.json"))
	require.Error(t, err, out)
	assert.Contains(t, out, "c-breaks.json: 422: http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient|6.1.0: Patient.gender")
}
