package search

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirserver/fhirserver/profiles"
	"github.com/fhirserver/fhirserver/storage"
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
	_, err := load([]byte(bundle), []byte(`{}`), []byte(`{"resource":[]}`), []string{"Patient"})
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

// US Core's own parameters are registered beside R4's; a code both define
// keeps R4's expression under US Core's canonical.
func TestUSCoreDefinitions(t *testing.T) {
	reg := registry(t)
	assert.Equal(t, []string{"3.1.1", "4.0.0", "5.0.1", "6.1.0", "7.0.0", "8.0.0"}, reg.USCore)
	const us = "http://hl7.org/fhir/us/core/SearchParameter/"
	tests := []struct{ typ, code, kind, url, expr string }{
		{"Condition", "asserted-date", "date", us + "us-core-condition-asserted-date", "Condition.extension.where(url = 'http://hl7.org/fhir/StructureDefinition/condition-assertedDate').value"},
		{"Encounter", "discharge-disposition", "token", us + "us-core-encounter-discharge-disposition", "Encounter.hospitalization.dischargeDisposition"},
		{"CareTeam", "role", "token", us + "us-core-careteam-role", "CareTeam.participant.role"},
		{"Goal", "description", "token", us + "us-core-goal-description", "Goal.description"},
		{"Patient", "race", "token", us + "us-core-race", "us-core-race').extension.value.code"},
		{"Patient", "ethnicity", "token", us + "us-core-ethnicity", "us-core-ethnicity').extension.value.code"},
		{"Patient", "gender-identity", "token", us + "us-core-patient-gender-identity", "us-core-genderIdentity').value.coding.code"},
		{"Condition", "code", "token", us + "us-core-condition-code", "Condition.code"},
		{"Patient", "_id", "token", us + "us-core-patient-id", "Resource.id"},
		{"Goal", "target-date", "date", us + "us-core-goal-target-date", "(Goal.target.due.ofType(date))"},
		{"Observation", "code", "token", us + "us-core-observation-code", "Observation.code"},
		{"Observation", "value-quantity", "quantity", "http://hl7.org/fhir/SearchParameter/Observation-value-quantity", "Observation.value"},
	}
	for _, tt := range tests {
		p := reg.Param(tt.typ, tt.code)
		require.NotNil(t, p, "%s %s", tt.typ, tt.code)
		assert.Equal(t, tt.kind, p.Type, "%s %s", tt.typ, tt.code)
		assert.Equal(t, tt.url, p.URL, "%s %s", tt.typ, tt.code)
		assert.Contains(t, p.Expression, tt.expr, "%s %s", tt.typ, tt.code)
		assert.Same(t, p, reg.ByURL(p.URL), "%s %s", tt.typ, tt.code)
	}
	assert.Equal(t, []string{"subject"}, reg.IndexCodes("Condition", "patient"), "US Core's patient still answered by subject's rows")
	assert.Equal(t, "token", reg.ByURL("http://hl7.org/fhir/SearchParameter/clinical-code").Type, "R4's canonicals still resolve")
}

// The decision addUSCore relies on: where US Core defines a code R4 has,
// it selects the same elements, only spelled differently. A US Core
// version that changes that must be decided on, not indexed silently.
func TestUSCoreRedefinitionsMeanWhatR4Does(t *testing.T) {
	raw, err := readGzip("data/search-parameters.json.gz")
	require.NoError(t, err)
	comp, err := data.ReadFile("data/compartmentdefinition-patient.json")
	require.NoError(t, err)
	r4, err := load(raw, []byte(`{}`), comp, profiles.ResourceTypes())
	require.NoError(t, err)
	usCore, err := data.ReadFile("data/us-core-search-parameters.json")
	require.NoError(t, err)
	var us bundle
	require.NoError(t, json.Unmarshal(usCore, &us))
	shared := 0
	for _, e := range us.Entry {
		d := e.Resource
		for _, base := range d.Base {
			if p := r4.Param(base, d.Code); p != nil {
				assert.Equal(t, sameSelection(p.Expression), sameSelection(d.Expression), "%s on %s", d.URL, base)
				shared++
			}
		}
	}
	assert.Greater(t, shared, 90)
}

// sameSelection rewrites the spellings that select the same elements
// alike: `x as T`, `x.as(T)` and `x.ofType(T)`; T.id and Resource.id.
func sameSelection(expr string) string {
	expr = asOperator.ReplaceAllString(expr, "($1.ofType($2))")
	expr = strings.ReplaceAll(strings.ReplaceAll(expr, " ", ""), ".as(", ".ofType(")
	var parts []string
	for _, part := range splitUnion(expr) {
		parts = append(parts, ownElement.ReplaceAllString(part, "Resource.$1"))
	}
	return strings.Join(parts, "|")
}

var (
	asOperator = regexp.MustCompile(`\(([\w.]+) as (\w+)\)`)
	ownElement = regexp.MustCompile(`^[A-Z]\w*\.(id|meta\.\w+)$`)
)

// The token index names a parameter by a 64-bit hash of its type and code
// (storage.ParamID, migration 039). No two names the index can hold may
// share one: every parameter of every type, and the rows written beside a
// parameter for its identifiers (:identifier) and identifier types
// (:of-type). Each parameter knows its type, which a search needs to find
// its rows.
func TestParamIDsAreDistinct(t *testing.T) {
	reg, err := Load(profiles.ResourceTypes())
	require.NoError(t, err)
	seen := map[int64]string{}
	for _, typ := range reg.Types() {
		for code, p := range reg.byType[typ] {
			require.Equal(t, typ, p.base, "%s %s", typ, code)
			for _, name := range []string{code, code + ":identifier", code + ":of-type"} {
				id := storage.ParamID(typ, name)
				if other, ok := seen[id]; ok {
					t.Fatalf("%s:%s and %s have the same id", typ, name, other)
				}
				seen[id] = typ + ":" + name
			}
		}
	}
	assert.Greater(t, len(seen), 5000)
}
