package smart

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// Discovery lists, under SMART App Launch 2.2's names, every capability
// this server has: all but smart-app-state.
func TestDiscoveryCapabilities(t *testing.T) {
	p := &Provider{cfg: Config{Issuer: "https://ehr.example"}}
	assert.ElementsMatch(t, []string{
		"launch-ehr", "launch-standalone", "authorize-post",
		"client-public", "client-confidential-symmetric", "client-confidential-asymmetric",
		"sso-openid-connect", "context-banner", "context-style",
		"context-ehr-patient", "context-ehr-encounter", "context-standalone-patient", "context-standalone-encounter",
		"permission-offline", "permission-online", "permission-patient", "permission-user", "permission-v1", "permission-v2",
	}, p.Discovery()["capabilities"])
}

// scopes_supported lists, besides the wildcards, the scopes US Core 7.0.0
// and 8.0.0 require a server to document: a patient read and search scope
// per US Core type and every category sub-scope, each one the server grants.
func TestDiscoveryListsUSCoreScopes(t *testing.T) {
	p := &Provider{cfg: Config{Issuer: "https://ehr.example"}}
	scopes := p.Discovery()["scopes_supported"].([]string)
	for _, want := range []string{
		"patient/Patient.rs", "patient/Condition.rs", "patient/Observation.rs",
		"patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory",
		"patient/Condition.rs?category=http://hl7.org/fhir/us/core/CodeSystem/condition-category|health-concern",
		"patient/DocumentReference.rs?category=http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category|clinical-note",
		"patient/*.rs", "launch/patient", "openid",
	} {
		assert.Contains(t, scopes, want)
	}
	for _, s := range scopes {
		_, ok := ParseScope(s)
		assert.True(t, ok || nonResourceScopes[s], s)
	}
}
