package search

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirserver/fhirserver/profiles"
)

func TestEveryR4DefinitionCompiles(t *testing.T) {
	reg, err := Load(profiles.ResourceTypes())
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"_content", "_query", "_text"}, reg.Special, "only the full-text and named-query parameters have no expression")

	n := 0
	for _, typ := range reg.Types() {
		n += len(reg.Params(typ))
	}
	assert.Greater(t, n, 2500, "parameters counted once per base type")
	for _, typ := range profiles.ResourceTypes() {
		for _, code := range []string{"_id", "_lastUpdated", "_tag", "_profile", "_security", "_source"} {
			assert.NotNil(t, reg.Param(typ, code), "%s %s", typ, code)
		}
	}

	tests := []struct{ typ, code, kind, expr string }{
		{"Observation", "code", "token", "Observation.code"},
		{"Observation", "patient", "reference", "Observation.subject.where(resolve() is Patient)"},
		{"Observation", "date", "date", "Observation.effective"},
		{"Observation", "code-value-quantity", "composite", "Observation"},
		{"Patient", "name", "string", "Patient.name"},
		{"Patient", "birthdate", "date", "Patient.birthDate"},
		{"Condition", "onset-date", "date", "Condition.onset.ofType(dateTime) | Condition.onset.ofType(Period)"},
		{"MedicationRequest", "medication", "reference", "(MedicationRequest.medication.ofType(Reference))"},
	}
	for _, tt := range tests {
		p := reg.Param(tt.typ, tt.code)
		require.NotNil(t, p, "%s %s", tt.typ, tt.code)
		assert.Equal(t, tt.kind, p.Type, "%s %s", tt.typ, tt.code)
		assert.Contains(t, p.Expression, tt.expr, "%s %s", tt.typ, tt.code)
		assert.NotContains(t, p.Expression, "|  ", "%s %s", tt.typ, tt.code)
	}
	assert.Len(t, reg.Param("Observation", "code-value-quantity").Components, 2)
	assert.Equal(t, []string{"subject"}, reg.IndexCodes("Observation", "patient"))
	assert.Equal(t, "Patient", reg.Param("Observation", "patient").targetType)
	assert.ElementsMatch(t, []string{"code", "component-code"}, reg.IndexCodes("Observation", "combo-code"))
	assert.Equal(t, []string{"patient"}, reg.IndexCodes("AllergyIntolerance", "patient"), "its own expression")
	assert.Equal(t, []string{"subject"}, reg.IndexCodes("Observation", "subject"))
	assert.Equal(t, []string{"subject", "performer"}, reg.CompartmentParams("Observation"))
	assert.Nil(t, reg.CompartmentParams("Organization"))
}

func TestUncompilableDefinitionsAreNamed(t *testing.T) {
	bundle := `{"entry":[
		{"resource":{"id":"a","code":"a","base":["Patient"],"type":"token","expression":"Patient.gender.frobnicate()"}},
		{"resource":{"id":"b","code":"b","base":["Patient"],"type":"token","expression":"Patient.gender"}},
		{"resource":{"id":"c","code":"c","base":["Patient"],"type":"string","expression":"Patient.name.given[" }}]}`
	_, err := load([]byte(bundle), []byte(`{"resource":[]}`), []string{"Patient"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "a (a on Patient)")
	assert.Contains(t, err.Error(), "frobnicate")
	assert.Contains(t, err.Error(), "c (c on Patient)")
	assert.NotContains(t, err.Error(), "b (b on Patient)")
}

func TestPartsFor(t *testing.T) {
	expr := "AllergyIntolerance.patient | CarePlan.subject.where(resolve() is Patient) | (Observation.value as Quantity) | Observation.component.where(code.text = 'a|b').value"
	assert.Equal(t, "(Observation.value as Quantity) | Observation.component.where(code.text = 'a|b').value", partsFor(expr, "Observation"))
	assert.Equal(t, "AllergyIntolerance.patient", partsFor(expr, "AllergyIntolerance"))
	assert.Equal(t, "Resource.id", partsFor("Resource.id", "Patient"))
}
