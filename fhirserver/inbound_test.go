package fhirserver_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirserver/fhirserver/profiles"
)

// Every raw transaction and batch is logged before it is processed, with
// who sent it, and its outcome after, failed ones included.
func TestInboundLog(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	good := `{"resourceType":"Bundle","type":"transaction","entry":[{"resource":{"resourceType":"Patient"},"request":{"method":"POST","url":"Patient"}}]}`
	bad := `{"resourceType":"Bundle","type":"batch","entry":[{"resource":{"resourceType":"Patient","gender":"F"},"request":{"method":"POST","url":"Patient"}}]}`
	broken := `{"resourceType":"Bundle",`
	require.Equal(t, 200, ts.do("POST", "", fhirJSON, good).Status)
	require.Equal(t, 400, ts.do("POST", "", fhirJSON, bad).Status)
	require.Equal(t, 400, ts.do("POST", "", fhirJSON, broken).Status)

	log, err := ts.store.Inbound(context.Background())
	require.NoError(t, err)
	require.Len(t, log, 3)
	want := []struct {
		kind, body string
		status     int
	}{{"transaction", good, 200}, {"batch", bad, 400}, {"unknown", broken, 400}}
	for i, w := range want {
		assert.Equal(t, w.kind, log[i].Kind)
		assert.Equal(t, w.body, string(log[i].Body), "the raw body, byte for byte")
		assert.Equal(t, ts.clientID, log[i].Sender, "the client that sent it")
		require.NotNil(t, log[i].Status)
		assert.Equal(t, w.status, *log[i].Status)
	}
}

// Every R4 resource type can be created (its smallest valid instance),
// read and deleted, but AuditEvent, which is the server's own audit log
// (audit_test.go).
func TestEveryResourceTypeIsAccepted(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	defs, err := profiles.R4()
	require.NoError(t, err)
	for _, typ := range profiles.ResourceTypes() {
		if typ == "AuditEvent" {
			continue
		}
		body, err := json.Marshal(defs.Example(typ, "x"))
		require.NoError(t, err)
		r := ts.do("PUT", "/"+typ+"/x", fhirJSON, string(body))
		require.Equal(t, 201, r.Status, "%s: %s", typ, r.Body)
		assert.Equal(t, 200, ts.do("GET", "/"+typ+"/x", "", "").Status, typ)
	}
}

func TestHealthAndReadiness(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	root := ts.URL[:len(ts.URL)-len("/fhir")]
	ts.URL = root
	assert.Equal(t, 200, ts.do("GET", "/healthz", "", "").Status)
	assert.Equal(t, 200, ts.do("GET", "/readyz", "", "").Status)
	ts.store.Close()
	assert.Equal(t, 503, ts.do("GET", "/readyz", "", "").Status, "no database, not ready")
}
