package fhirserver_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/fhirserver/fhirserver/fhirserver"
	"github.com/fhirserver/fhirserver/fhirserver/outcome"
	"github.com/fhirserver/fhirserver/resources"
	"github.com/fhirserver/fhirserver/storage"
)

// stubAuth accepts the token "all" with every permission.
type stubAuth struct{}

func (stubAuth) Authenticate(r *http.Request) (resources.Caller, error) {
	if strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ") != "all" {
		return resources.Caller{}, outcome.E(outcome.Unauthorized, "no valid token")
	}
	return resources.Caller{ID: "test"}, nil
}

func (stubAuth) Challenge(error) string { return `Bearer realm="fhir"` }

func deps(t *testing.T, ts *testServer, store *storage.Store, cfg fhirserver.Config) fhirserver.Deps {
	ts.token = "all"
	return fhirserver.Deps{
		Resources: resources.New(store, nil),
		Auth:      stubAuth{},
		Ready:     func(ctx context.Context) error { return store.Ready(ctx) },
		Discovery: func() map[string]any { return map[string]any{} },
	}
}
