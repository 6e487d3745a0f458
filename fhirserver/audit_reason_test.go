package fhirserver_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirserver/fhirserver/smart"
)

// A refusal's audit record carries the access decision's reason, the one
// the client reads: a privacy officer reviewing refusals sees why.
func TestARefusalIsAuditedWithItsReason(t *testing.T) {
	t.Parallel()
	ts := launchServer(t)
	ctx := context.Background()
	_, err := ts.smart.RegisterClient(ctx, smart.Client{ID: "ehr", Public: true, RedirectURIs: []string{appRedirect}, Scopes: []string{"user/*.cruds"}})
	require.NoError(t, err)
	require.NoError(t, ts.smart.AddUser(ctx, smart.User{Username: "officer", Password: password, Role: "privacy-officer"}))
	officer := userTokenFor(t, ts, "ehr", "officer", "user/*.cruds")
	r := fhirGet(ts, officer, "/Observation/o1")
	require.Equal(t, 403, r.Status, "%s", r.Body)
	events := auditEvents(t, ts)
	last := events[len(events)-1]
	assert.Equal(t, "4", last["outcome"])
	assert.Equal(t, "Forbidden: the user's role (privacy-officer) does not permit read on Observation", last["outcomeDesc"])
	assert.Contains(t, string(r.Body), "does not permit read on Observation", "the same reason the client reads")
}
