package profiles

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirserver/fhirserver/conformance/fixtures"
)

// examples decodes the examples of a US Core version that claim a profile.
func examples(t *testing.T, version string) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	for name, b := range fixtures.USCoreExamples(t, version) {
		x, err := decodeJSON(b)
		require.NoError(t, err)
		obj := x.(map[string]any)
		if meta, _ := obj["meta"].(map[string]any); meta["profile"] != nil {
			out[name] = obj
		}
	}
	return out
}

// claimVersion rewrites obj's claims to name version.
func claimVersion(obj map[string]any, version string) map[string]any {
	meta := obj["meta"].(map[string]any)
	list := slices.Clone(meta["profile"].([]any))
	for i, p := range list {
		base, _, _ := strings.Cut(p.(string), "|")
		list[i] = base + "|" + version
	}
	meta["profile"] = list
	return obj
}

// Every example each US Core version publishes conforms to that version's
// profiles, held to them by version: the definitions of the six versions
// are kept apart, each with its own extensions and value sets. The one
// exception is an example that is not valid R4 at all.
func TestEveryUSCoreExampleConformsToItsVersion(t *testing.T) {
	d, err := R4()
	require.NoError(t, err)
	var got []string
	for version := range fixtures.USCorePackages(t) {
		list := examples(t, version)
		assert.Greater(t, len(list), 70, version)
		for name, obj := range list {
			r := d.Validate(claimVersion(obj, version), Options{})
			for _, is := range append(r.Invalid, r.Unprocessable...) {
				got = append(got, fmt.Sprintf("%s %s: %s %s", version, name, is.Code, is.Expression[0]))
			}
		}
	}
	assert.Equal(t, []string{"3.1.1 DiagnosticReport-cardiology-report.json: value DiagnosticReport.presentedForm[0].hash"}, got)
}

const (
	usCorePatient = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient"
	smoking       = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-smokingstatus"
	// patient908 is US Core 8.0.0 data: no gender, us-core-sex a Coding.
	patient908 = `{"resourceType":"Patient","meta":{"profile":["%s"]},
	 "extension":[{"url":"http://hl7.org/fhir/us/core/StructureDefinition/us-core-sex","valueCoding":{"system":"http://snomed.info/sct","code":"248152002"}}],
	 "identifier":[{"system":"http://example.org/mrn","value":"908"}],"name":[{"family":"Doe","given":["Jo"]}]}`
	// syntheaSmoking is Synthea's (US Core 3.1-era): no social-history category.
	syntheaSmoking = `{"resourceType":"Observation","meta":{"profile":["%s"]},"status":"final",
	 "category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"survey"}]}],
	 "code":{"coding":[{"system":"http://loinc.org","code":"72166-2"}]},"subject":{"reference":"Patient/1"},
	 "effectiveDateTime":"2010-09-16T12:21:06+02:00","issued":"2010-09-16T12:21:06.190+02:00",
	 "valueCodeableConcept":{"coding":[{"system":"http://snomed.info/sct","code":"266919005"}]}}`
)

// A claim with a version is held to that version; one without passes when
// the resource conforms to any version held, and otherwise gets the
// errors of the newest version with the fewest.
func TestClaimsWithAndWithoutVersion(t *testing.T) {
	d, err := R4()
	require.NoError(t, err)
	tests := []struct {
		name, body, claim string
		want              []string // "severity code expression"
	}{
		{"8.0.0 data, unversioned", patient908, usCorePatient, nil},
		{"8.0.0 data, as 8.0.0", patient908, usCorePatient + "|8.0.0", nil},
		{"8.0.0 data, as 6.1.0", patient908, usCorePatient + "|6.1.0", []string{
			"error required Patient.extension[0].value",
			"error structure Patient.extension[0].value.ofType(Coding)",
			"error required Patient.gender"}},
		{"3.1-era data, unversioned", syntheaSmoking, smoking, nil},
		{"3.1-era data, as 3.1.1", syntheaSmoking, smoking + "|3.1.1", nil},
		{"3.1-era data, as 6.1.0", syntheaSmoking, smoking + "|6.1.0", []string{
			"error required Observation.category"}},
		{"conforms to no version", `{"resourceType":"Patient","meta":{"profile":["%s"]},"gender":"male"}`, usCorePatient, []string{
			"error required Patient.identifier", "error required Patient.name"}},
		{"a version not held", `{"resourceType":"Patient","meta":{"profile":["%s"]}}`, usCorePatient + "|9.9.9", []string{
			"warning not-supported Patient.meta.profile[0]"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			x, err := decodeJSON([]byte(fmt.Sprintf(tc.body, tc.claim)))
			require.NoError(t, err)
			var got []string
			for _, is := range d.Validate(x.(map[string]any), Options{}).Issues() {
				got = append(got, is.Severity+" "+is.Code+" "+is.Expression[0])
			}
			assert.Equal(t, tc.want, got)
		})
	}
}

// A claim without a version that conforms to none is reported against the
// version nearest to conforming, each issue naming it; lenient, those
// errors are warnings.
func TestNearestVersionIsNamed(t *testing.T) {
	d, err := R4()
	require.NoError(t, err)
	x, err := decodeJSON([]byte(fmt.Sprintf(`{"resourceType":"Patient","meta":{"profile":["%s"]},"gender":"male"}`, usCorePatient)))
	require.NoError(t, err)
	r := d.Validate(x.(map[string]any), Options{})
	require.Len(t, r.Unprocessable, 2)
	for _, is := range r.Unprocessable {
		assert.True(t, strings.HasPrefix(is.Diagnostics, usCorePatient+"|8.0.0: "), is.Diagnostics)
	}
	r = d.Validate(x.(map[string]any), Options{Lenient: true})
	assert.Empty(t, r.Unprocessable, "lenient: a profile's errors are warnings")
	assert.Len(t, r.Warnings, 2)
}
