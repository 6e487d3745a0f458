package smart

import (
	"testing"

	"github.com/ory/fosite"
	"github.com/stretchr/testify/assert"
)

// usCoreCategoryScopes are the granular scopes the SMART scope lists of US
// Core 6.1.0, 7.0.0 and 8.0.0 name (3.1.1 to 5.0.1 name none).
var usCoreCategoryScopes = map[string][]string{
	"Observation": {
		"Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory",
		"Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|vital-signs",
		"Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|social-history",
		"Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|survey",
		"Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|imaging",
		"Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|procedure",
		"Observation.rs?category=http://hl7.org/fhir/us/core/CodeSystem/us-core-category|sdoh",
		"Observation.rs?category=http://hl7.org/fhir/us/core/CodeSystem/us-core-category|care-experience-preference",
		"Observation.rs?category=http://hl7.org/fhir/us/core/CodeSystem/us-core-category|treatment-intervention-preference",
	},
	"Condition": {
		"Condition.rs?category=http://terminology.hl7.org/CodeSystem/condition-category|problem-list-item",
		"Condition.rs?category=http://terminology.hl7.org/CodeSystem/condition-category|encounter-diagnosis",
		"Condition.rs?category=http://hl7.org/fhir/us/core/CodeSystem/condition-category|health-concern",
	},
	"DiagnosticReport": {
		"DiagnosticReport.rs?category=http://terminology.hl7.org/CodeSystem/v2-0074|LAB",
		"DiagnosticReport.rs?category=http://loinc.org|LP29684-5",
		"DiagnosticReport.rs?category=http://loinc.org|LP29708-2",
		"DiagnosticReport.rs?category=http://loinc.org|LP7839-6",
	},
	"DocumentReference": {
		"DocumentReference.rs?category=http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category|clinical-note",
	},
	"ServiceRequest": {
		"ServiceRequest.rs?category=http://hl7.org/fhir/us/core/CodeSystem/us-core-category|sdoh",
		"ServiceRequest.rs?category=http://hl7.org/fhir/us/core/CodeSystem/us-core-category|functional-status",
		"ServiceRequest.rs?category=http://snomed.info/sct|387713003",
	},
}

// A whole type's read scope, in either syntax and any context, is offered
// narrowed to each US Core category, in words; a write scope or one
// already narrowed is not.
func TestConsentOffersUSCoreCategories(t *testing.T) {
	for typ, want := range usCoreCategoryScopes {
		for _, ctx := range []string{"patient/", "user/"} {
			for _, perms := range []string{".rs", ".cruds", ".read"} {
				choices := describeScopes(fosite.Arguments{ctx + typ + perms})
				var got []string
				for _, c := range choices[0].Categories {
					got = append(got, c.Scope)
					assert.NotContains(t, c.Words, "|", "words for %s", c.Scope)
				}
				var scoped []string
				for _, w := range want {
					scoped = append(scoped, ctx+w)
				}
				assert.Equal(t, scoped, got, ctx+typ+perms)
			}
		}
	}
	for _, s := range []string{"patient/Observation.cud", "patient/Observation.rs?category=laboratory", "patient/Patient.rs"} {
		assert.Empty(t, describeScopes(fosite.Arguments{s})[0].Categories, s)
	}
}
