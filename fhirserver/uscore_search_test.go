package fhirserver_test

import (
	"archive/tar"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const usCoreParam = "http://hl7.org/fhir/us/core/SearchParameter/"

// US Core's own parameters filter, and are claimed under US Core's
// definitions: before, the server did not know them and ignored them.
func TestUSCoreOwnSearchParametersFilter(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	tests := []struct {
		typ, param, value, definition string
		match, other                  string
	}{
		{"Condition", "asserted-date", "ge2021-01-01", "us-core-condition-asserted-date",
			`{"resourceType":"Condition","subject":{"reference":"Patient/p1"},"extension":[{"url":"http://hl7.org/fhir/StructureDefinition/condition-assertedDate","valueDateTime":"2021-03-04"}]}`,
			`{"resourceType":"Condition","subject":{"reference":"Patient/p1"},"extension":[{"url":"http://hl7.org/fhir/StructureDefinition/condition-assertedDate","valueDateTime":"2019-03-04"}]}`},
		{"Encounter", "discharge-disposition", "http://terminology.hl7.org/CodeSystem/discharge-disposition|home", "us-core-encounter-discharge-disposition",
			`{"resourceType":"Encounter","status":"finished","class":{"code":"IMP"},"hospitalization":{"dischargeDisposition":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/discharge-disposition","code":"home"}]}}}`,
			`{"resourceType":"Encounter","status":"finished","class":{"code":"IMP"},"hospitalization":{"dischargeDisposition":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/discharge-disposition","code":"hosp"}]}}}`},
		{"CareTeam", "role", "http://snomed.info/sct|224535009", "us-core-careteam-role",
			`{"resourceType":"CareTeam","participant":[{"role":[{"coding":[{"system":"http://snomed.info/sct","code":"224535009"}]}]}]}`,
			`{"resourceType":"CareTeam","participant":[{"role":[{"coding":[{"system":"http://snomed.info/sct","code":"309343006"}]}]}]}`},
		{"Goal", "description", "http://snomed.info/sct|289169006", "us-core-goal-description",
			`{"resourceType":"Goal","lifecycleStatus":"active","subject":{"reference":"Patient/p1"},"description":{"coding":[{"system":"http://snomed.info/sct","code":"289169006"}]}}`,
			`{"resourceType":"Goal","lifecycleStatus":"active","subject":{"reference":"Patient/p1"},"description":{"text":"Walk every day"}}`},
		{"Patient", "race", "2106-3", "us-core-race",
			`{"resourceType":"Patient","extension":[{"url":"http://hl7.org/fhir/us/core/StructureDefinition/us-core-race","extension":[{"url":"ombCategory","valueCoding":{"system":"urn:oid:2.16.840.1.113883.6.238","code":"2106-3"}},{"url":"text","valueString":"White"}]}]}`,
			`{"resourceType":"Patient","extension":[{"url":"http://hl7.org/fhir/us/core/StructureDefinition/us-core-race","extension":[{"url":"ombCategory","valueCoding":{"system":"urn:oid:2.16.840.1.113883.6.238","code":"2054-5"}},{"url":"text","valueString":"Black"}]}]}`},
	}
	claimed := claimedParams(metadata(t, ts))
	for _, tt := range tests {
		ts.put(tt.typ, tt.param+"-match", tt.match)
		ts.put(tt.typ, tt.param+"-other", tt.other)
		q := url.Values{tt.param: {tt.value}}.Encode()
		assert.Equal(t, []string{tt.param + "-match"}, ts.ids("/"+tt.typ+"?"+q), "%s?%s", tt.typ, q)
		strict := ts.do("GET", "/"+tt.typ+"?"+q, "", "", "Prefer", "handling=strict")
		assert.Equal(t, 200, strict.Status, "%s?%s: %s", tt.typ, q, strict.Body)
		assert.Equal(t, usCoreParam+tt.definition, claimed[tt.typ][tt.param], "%s %s", tt.typ, tt.param)
	}
}

// claimedParams reads a CapabilityStatement's search parameters: type ->
// name -> definition.
func claimedParams(cs capability) map[string]map[string]string {
	out := map[string]map[string]string{}
	for _, r := range cs.Rest[0].Resource {
		out[r.Type] = map[string]string{}
		for _, p := range r.SearchParam {
			out[r.Type][p.Name] = p.Definition
		}
	}
	return out
}

func TestCapabilityStatementInstantiatesEveryUSCoreVersion(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	var want []string
	for _, v := range []string{"3.1.1", "4.0.0", "5.0.1", "6.1.0", "7.0.0", "8.0.0"} {
		want = append(want, "http://hl7.org/fhir/us/core/CapabilityStatement/us-core-server|"+v)
	}
	assert.Equal(t, want, metadata(t, ts).Instantiates)
}

// Every search parameter every held US Core version's server
// CapabilityStatement names is claimed, with its definition and type,
// read from the published packages themselves.
func TestCapabilityStatementClaimsEveryUSCoreSearchParameter(t *testing.T) {
	t.Parallel()
	packages := usCorePackages(t)
	ts := newServer(t)
	cs := metadata(t, ts)
	claimed := map[string]map[[3]string]bool{}
	for _, r := range cs.Rest[0].Resource {
		claimed[r.Type] = map[[3]string]bool{}
		for _, p := range r.SearchParam {
			claimed[r.Type][[3]string{p.Name, p.Definition, p.Type}] = true
		}
	}
	checked := 0
	for _, file := range packages {
		theirs := usCoreServer(t, file)
		assert.Contains(t, cs.Instantiates, theirs.URL+"|"+theirs.Version)
		for _, r := range theirs.Rest[0].Resource {
			for _, p := range r.SearchParam {
				assert.True(t, claimed[r.Type][[3]string{p.Name, p.Definition, p.Type}], "%s: %s %s (%s, %s)", theirs.Version, r.Type, p.Name, p.Definition, p.Type)
				checked++
			}
		}
	}
	assert.Greater(t, checked, 400)
}

// usCorePackages are the US Core packages the server's definitions come
// from (search/data/README.md): $FHIR_IG, else shared/ig beside the
// checkout or one of its parents.
func usCorePackages(t *testing.T) []string {
	dir := os.Getenv("FHIR_IG")
	for wd, _ := os.Getwd(); dir == "" && wd != filepath.Dir(wd); wd = filepath.Dir(wd) {
		if fi, err := os.Stat(filepath.Join(wd, "shared", "ig")); err == nil && fi.IsDir() {
			dir = filepath.Join(wd, "shared", "ig")
		}
	}
	files, _ := filepath.Glob(filepath.Join(dir, "us_core_*.tgz"))
	if dir == "" || len(files) == 0 {
		t.Skip("no US Core packages found: set FHIR_IG to the folder of us_core_NNN.tgz")
	}
	return files
}

// usCoreServer is a package's us-core-server CapabilityStatement.
func usCoreServer(t *testing.T, file string) (cs struct {
	URL, Version string
	capability
}) {
	f, err := os.Open(file)
	require.NoError(t, err)
	defer f.Close()
	zr, err := gzip.NewReader(f)
	require.NoError(t, err)
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		require.NotEqual(t, io.EOF, err, "%s has no us-core-server CapabilityStatement", file)
		require.NoError(t, err)
		if h.Name == "package/CapabilityStatement-us-core-server.json" {
			require.NoError(t, json.NewDecoder(tr).Decode(&cs))
			return cs
		}
	}
}
