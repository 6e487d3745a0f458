package main_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// noshow policy set puts a policy in force per visit type (the newest
// wins); list shows them; a bad action is a usage error.
func TestNoShowPolicyCommands(t *testing.T) {
	t.Parallel()
	dir := dataDir(t)
	out, err := fhirserver(t, "noshow", "policy", "set", "--data-dir", dir, "--visit-type", "FOLLOWUP", "--grace-minutes", "15", "--action", "CANCEL")
	require.NoError(t, err, out)
	out, err = fhirserver(t, "noshow", "policy", "set", "--data-dir", dir, "--visit-type", "FOLLOWUP", "--grace-minutes", "20", "--action", "HOLD")
	require.NoError(t, err, out)
	out, err = fhirserver(t, "noshow", "policy", "list", "--data-dir", dir)
	require.NoError(t, err, out)
	assert.Contains(t, out, "\"FOLLOWUP\"\t20\tHOLD\n")
	assert.NotContains(t, out, "CANCEL")
	out, err = fhirserver(t, "noshow", "policy", "set", "--data-dir", dir, "--visit-type", "X", "--action", "SHRUG")
	assert.Error(t, err)
	assert.Contains(t, out, "--action must be CANCEL, CONVERT_TO_ASYNC or HOLD")
}
