package fhirserver_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/fhirserver/fhirserver/conformance/smartcheck"
)

// This server passes the black-box SMART checks of conformance/smartcheck,
// every one of them run (none skipped).
func TestSMARTConformanceChecks(t *testing.T) {
	t.Parallel()
	ts := launchServer(t)
	id, secret := ts.client("system/*.rs")
	results := smartcheck.Run(context.Background(), smartcheck.Target{
		FHIRBase: ts.URL, BackendID: id, BackendSecret: secret, BackendScope: "system/Patient.rs",
		AppID: "app", AppRedirect: appRedirect,
	})
	assert.NotEmpty(t, results)
	for _, r := range results {
		assert.Empty(t, r.Skipped, r.Name)
		assert.NoError(t, r.Err, "%s (%s)", r.Name, strings.TrimPrefix(r.Spec, "https://"))
	}
}
