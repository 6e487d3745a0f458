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
