package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// syntheaPatient is a Synthea-style patient bundle: a Patient, two
// Encounters, three Observations (the first in the first Encounter, the
// others in the second) and a DiagnosticReport of the third; references by
// urn:uuid inside the bundle, conditional ones to the providers.
func syntheaPatient(n int, family string) string {
	u := func(k int) string { return fmt.Sprintf("%08d-0000-4000-8000-%012d", n, k) }
	entry := func(k int, typ, body string) string {
		return fmt.Sprintf(`{"fullUrl":"urn:uuid:%s","resource":{"resourceType":"%s","id":"%s",%s},"request":{"method":"POST","url":"%s"}}`,
			u(k), typ, u(k), body, typ)
	}
	obs := func(k, enc int, code string) string {
		return entry(k, "Observation", fmt.Sprintf(`"status":"final","category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"vital-signs"}]}],`+
			`"code":{"coding":[{"system":"http://loinc.org","code":"%s"}]},"subject":{"reference":"urn:uuid:%s"},"encounter":{"reference":"urn:uuid:%s"},"effectiveDateTime":"2019-0%d-01T10:00:00Z"`,
			code, u(1), u(enc), k))
	}
	enc := func(k int) string {
		return entry(k, "Encounter", fmt.Sprintf(`"status":"finished","subject":{"reference":"urn:uuid:%s"},`+
			`"participant":[{"individual":{"reference":"Practitioner?identifier=http://hl7.org/fhir/sid/us-npi|9999994392"}}],`+
			`"serviceProvider":{"reference":"Organization?identifier=https://github.com/synthetichealth/synthea|7c8d1a02"}`, u(1)))
	}
	return `{"resourceType":"Bundle","type":"transaction","entry":[` + strings.Join([]string{
		entry(1, "Patient", `"name":[{"family":"`+family+`"}],"managingOrganization":{"reference":"Organization?identifier=https://github.com/synthetichealth/synthea|7c8d1a02"}`),
		enc(2), obs(3, 2, "8867-4"), enc(4), obs(5, 4, "8480-6"), obs(6, 4, "8462-4"),
		entry(7, "DiagnosticReport", fmt.Sprintf(`"status":"final","subject":{"reference":"urn:uuid:%s"},"result":[{"reference":"urn:uuid:%s"}]`, u(1), u(6))),
	}, ",") + `]}`
}

// writeScaleFixtures is a providers batch and two Synthea-style patients.
func writeScaleFixtures(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range map[string]string{
		"0-providers.json": providerBundle, "a.json": syntheaPatient(1, "Smith"), "b.json": syntheaPatient(2, "Jones"),
	} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644))
	}
	return dir
}

func typesOf(b parsedBundle) []string {
	var out []string
	for _, e := range b.Entry {
		out = append(out, e.Resource["resourceType"].(string))
	}
	return out
}

func TestTrimKeepsWhatIsReferredTo(t *testing.T) {
	f, skip, err := parseFixture("a.json", []byte(syntheaPatient(1, "Smith")))
	require.NoError(t, err)
	require.Empty(t, skip)
	tests := []struct {
		keep string
		want []string
	}{
		// The second Observation brings the second Encounter along.
		{"Encounter=0,Observation=2", []string{"Patient", "Encounter", "Observation", "Encounter", "Observation"}},
		{"Encounter=1,Observation=1", []string{"Patient", "Encounter", "Observation"}},
		{"Encounter=0,Observation=0", []string{"Patient"}},
		// The report brings its Observation, which brings its Encounter.
		{"DiagnosticReport=1", []string{"Patient", "Encounter", "Observation", "DiagnosticReport"}},
		{"Observation=99", []string{"Patient", "Encounter", "Observation", "Encounter", "Observation", "Observation"}},
	}
	for _, tt := range tests {
		t.Run(tt.keep, func(t *testing.T) {
			keep, err := parseKeep(tt.keep)
			require.NoError(t, err)
			tr, err := trimFixture(&f, keep)
			require.NoError(t, err)
			assert.False(t, tr.provider)
			b := parseBundle(t, tr.data)
			assert.Equal(t, tt.want, typesOf(b))
			assert.Len(t, tr.entries, len(tt.want))
			ids := b.identities()
			for _, ref := range b.allReferences() {
				assert.True(t, ids[ref] || strings.Contains(ref, "?identifier="), "dangling reference %s", ref)
			}
		})
	}
}

func TestTrimNeedsOnePatient(t *testing.T) {
	f, _, err := parseFixture("p.json", []byte(providerBundle))
	require.NoError(t, err)
	_, err = trimFixture(&f, []keepRule{{"Observation", 1}})
	assert.ErrorContains(t, err, "0 Patients")
}

// A batch of trimmed patients: every copy has fresh ids, and every
// reference inside the batch points at an entry of the same copy.
func TestPatientBatchFreshIDsIntactReferences(t *testing.T) {
	fx, err := loadFixtures([]string{writeScaleFixtures(t)}, &strings.Builder{})
	require.NoError(t, err)
	templates, err := patientTemplates(fx, []keepRule{{"Encounter", 1}, {"Observation", 2}})
	require.NoError(t, err)
	require.Len(t, templates, 2)
	assert.Equal(t, 5, len(templates[0].entries)) // Patient, 2 Encounters, 2 Observations

	job, err := patientBatch(templates, 0, 5, newUUID)
	require.NoError(t, err)
	b := parseBundle(t, job.body)
	require.Len(t, b.Entry, 25)
	assert.Equal(t, 25, job.entries)
	var head struct{ ResourceType, Type string }
	require.NoError(t, json.Unmarshal(job.body, &head))
	assert.Equal(t, "Bundle", head.ResourceType)
	assert.Equal(t, "transaction", head.Type)

	seen := map[string]bool{}
	for _, id := range b.ids() {
		assert.NotContains(t, id, "-0000-4000-8000-", "an id of the template survived")
		seen[id] = true
	}
	assert.Len(t, seen, 25, "one id per resource, none shared between copies")

	// Each copy's references resolve to its own entries: the Patient a
	// copy's Observations name is the Patient of that copy.
	full := map[string]map[string]any{}
	for _, e := range b.Entry {
		full[e.FullURL] = e.Resource
	}
	patients := 0
	for i, e := range b.Entry {
		copyStart := i / 5 * 5
		own := map[string]bool{}
		for _, x := range b.Entry[copyStart : copyStart+5] {
			own[x.FullURL] = true
		}
		for _, ref := range references(e.Resource) {
			if strings.HasPrefix(ref, "urn:uuid:") {
				assert.True(t, own[ref], "entry %d refers to %s outside its copy", i, ref)
			}
		}
		if e.Resource["resourceType"] == "Patient" {
			patients++
		}
	}
	assert.Equal(t, 5, patients)
	fam := func(i int) string {
		return b.Entry[i].Resource["name"].([]any)[0].(map[string]any)["family"].(string)
	}
	assert.Equal(t, []string{"Smith", "Jones", "Smith"}, []string{fam(0), fam(5), fam(10)}, "templates in turn")
}

func TestParseCountsAndKeep(t *testing.T) {
	n, err := parseCounts("1000, 64000")
	require.NoError(t, err)
	assert.Equal(t, []int{1000, 64000}, n)
	for _, bad := range []string{"0", "64000,1000", "5,5", "x"} {
		_, err := parseCounts(bad)
		assert.Error(t, err, bad)
	}
	k, err := parseKeep(defaultScaleKeep)
	require.NoError(t, err)
	assert.Equal(t, []keepRule{{"Encounter", 4}, {"Observation", 32}}, k)
	for _, bad := range []string{"Encounter", "encounter=1", "Observation=-1", "Observation=x"} {
		_, err := parseKeep(bad)
		assert.Error(t, err, bad)
	}
}

// On the real fixtures, the defaults keep 36 to 48 resources a patient.
func TestTrimSharedFixtures(t *testing.T) {
	dir := sharedFixture(t, "synthea-blaze")
	fx, err := loadFixtures([]string{dir}, &strings.Builder{})
	require.NoError(t, err)
	keep, err := parseKeep(defaultScaleKeep)
	require.NoError(t, err)
	templates, err := patientTemplates(fx, keep)
	require.NoError(t, err)
	total := 0
	for _, tr := range templates {
		n := len(tr.entries)
		assert.True(t, n >= 36 && n <= 48, "%s: %d", tr.path, n)
		total += n
		b := parseBundle(t, tr.data)
		ids := b.identities()
		for _, ref := range b.allReferences() {
			assert.True(t, ids[ref] || strings.Contains(ref, "?"), "%s: dangling reference %s", tr.path, ref)
		}
	}
	mean := float64(total) / float64(len(templates))
	t.Logf("%d templates, %.1f resources a patient, %.2fM resources at 64K patients", len(templates), mean, mean*64000/1e6)
	assert.InDelta(t, 39, mean, 2)
}
