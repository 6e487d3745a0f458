package profiles

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirserver/fhirserver/conformance/fixtures"
	"github.com/fhirserver/fhirserver/outcome"
	"github.com/fhirserver/fhirserver/search/fhirpath"
)

func TestParseRejectsWithThePath(t *testing.T) {
	tests := []struct {
		name, body, code, expression string
	}{
		{"malformed", `{"resourceType":`, "structure", ""},
		{"array", `[]`, "structure", ""},
		{"no resourceType", `{"id":"x"}`, "required", "Resource"},
		{"unknown type", `{"resourceType":"Patientx"}`, "value", "Resource.resourceType"},
		{"bad code", `{"resourceType":"Patient","gender":"F"}`, "code-invalid", "Patient.gender"},
		{"nested bad code", `{"resourceType":"Patient","name":[{"use":"x"}]}`, "code-invalid", "Patient.name[0].use"},
		{"wrong type", `{"resourceType":"Patient","active":"yes"}`, "value", "Patient.active"},
		{"string for array", `{"resourceType":"Patient","name":{"family":"x"}}`, "structure", "Patient.name"},
		{"empty string", `{"resourceType":"Patient","birthDate":""}`, "value", "Patient.birthDate"},
		{"empty array", `{"resourceType":"Patient","name":[]}`, "value", "Patient.name"},
		{"number as string", `{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueQuantity":{"value":"1.0"}}`, "value", "Observation.value.ofType(Quantity).value"},
		{"bad contained", `{"resourceType":"Patient","contained":[{"resourceType":"Patient","gender":"nope"}]}`, "code-invalid", "Patient.contained[0].gender"},
		{"bundle entry resource", `{"resourceType":"Bundle","type":"batch","entry":[{"resource":{"resourceType":"Patient","gender":"F"}}]}`, "code-invalid", "Bundle.entry[0].resource.gender"},
		{"integer", `{"resourceType":"Patient","multipleBirthInteger":1.5}`, "value", "Patient.multipleBirth.ofType(integer)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.body))
			require.Error(t, err)
			var oe *outcome.Error
			require.ErrorAs(t, err, &oe)
			assert.Equal(t, outcome.Invalid, oe.Kind)
			require.NotEmpty(t, oe.Issues)
			found := false
			for _, is := range oe.Issues {
				if is.Code == tc.code && (tc.expression == "" || slices.Equal([]string{tc.expression}, is.Expression)) {
					found = true
				}
			}
			assert.True(t, found, "no %s issue at %s among %v", tc.code, tc.expression, oe.Issues)
		})
	}
}

func TestParseAcceptsFaithfulJSON(t *testing.T) {
	body := `{"resourceType":"Patient","id":"x","birthDate":"1970-01-01","_birthDate":{"extension":[{"url":"http://example.org/t","valueString":"12:00"}]},
		"name":[{"given":["A","B"],"_given":[null,{"id":"g2"}]}],
		"contained":[{"resourceType":"Organization","id":"o1","name":"Org"}],
		"managingOrganization":{"reference":"#o1"},
		"extension":[{"url":"http://example.org/d","valueDecimal":1.50}]}`
	r, err := Parse([]byte(body))
	require.NoError(t, err)
	assert.Equal(t, "Patient", r.Type)
	assert.Empty(t, r.Warnings)
	assert.Equal(t, "1.50", string(r.Object["extension"].([]any)[0].(map[string]any)["valueDecimal"].(interface{ String() string }).String()))
}

func TestUnknownElementsAreWarnings(t *testing.T) {
	r, err := Parse([]byte(`{"resourceType":"Observation","status":"final","code":{"text":"x"},
		"effectivePeriod":{"start":"2020","stop":"2021"},"_colour":{"id":"a"}}`))
	require.NoError(t, err)
	var paths []string
	for _, w := range r.Warnings {
		assert.Equal(t, "warning", w.Severity)
		paths = append(paths, w.Expression...)
	}
	assert.ElementsMatch(t, []string{"Observation.effective.ofType(Period).stop", "Observation._colour"}, paths)
}

// Data written by others must pass: the fixtures are valid R4.
func TestFixturesAreAccepted(t *testing.T) {
	files := fixtures.Need(t)
	for _, f := range files {
		body, err := os.ReadFile(f)
		require.NoError(t, err)
		// Valid R4 all: the Synthea patients claim US Core 3.1-era
		// profiles, which 6.1.0 no longer agrees with (usCoreFixtures tests
		// the reference patients against theirs).
		_, err = ParseWith(body, Options{Lenient: true})
		if err != nil {
			var oe *outcome.Error
			if assert.ErrorAs(t, err, &oe) {
				var lines []string
				for _, is := range oe.Issues {
					lines = append(lines, is.Diagnostics+" at "+strings.Join(is.Expression, ","))
				}
				t.Errorf("%s: %s", filepath.Base(f), strings.Join(lines, "; "))
			}
		}
	}
}

// FHIRPath looks for a child under typed names (valueQuantity) only when
// its name is one of R4's choice elements: the list it holds must be
// exactly the choice elements of every resource and data type.
func TestFHIRPathKnowsEveryChoiceElement(t *testing.T) {
	d, err := R4()
	require.NoError(t, err)
	set := map[string]bool{}
	for typ := range d.byType {
		sd := d.Base(typ)
		sd.tree()
		for _, e := range sd.byPath {
			if e.choice {
				set[e.name] = true
			}
		}
	}
	assert.Equal(t, slices.Sorted(maps.Keys(set)), fhirpath.ChoiceNames())
}
