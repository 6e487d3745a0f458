package fhirserver_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirserver/fhirserver/fhirserver"
	"github.com/fhirserver/fhirserver/fhirserver/outcome"
	"github.com/fhirserver/fhirserver/resources"
	"github.com/fhirserver/fhirserver/storage"
	"github.com/fhirserver/fhirserver/storage/storagetest"
)

func TestMain(m *testing.M) { storagetest.Main(m) }

// testServer is a FHIR server on a fresh database.
type testServer struct {
	t     *testing.T
	URL   string // the FHIR base
	token string
	store *storage.Store
}

func newServer(t *testing.T, opts ...func(*fhirserver.Config)) *testServer {
	t.Helper()
	store, _ := storagetest.Open(t)
	ts := &testServer{t: t, store: store}
	srv := httptest.NewUnstartedServer(nil)
	cfg := fhirserver.Config{BaseURL: "http://" + srv.Listener.Addr().String()}
	for _, o := range opts {
		o(&cfg)
	}
	srv.Config.Handler = fhirserver.New(cfg, deps(t, ts, store, cfg))
	srv.Start()
	t.Cleanup(srv.Close)
	ts.URL = cfg.BaseURL + "/fhir"
	return ts
}

type response struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(r.Body, &m), "body: %s", r.Body)
	return m
}

// do sends a request to the FHIR base with the server's token.
func (ts *testServer) do(method, path, contentType string, body string, headers ...string) response {
	ts.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, ts.URL+path, rd)
	require.NoError(ts.t, err)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if ts.token != "" {
		req.Header.Set("Authorization", "Bearer "+ts.token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(ts.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(ts.t, err)
	return response{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

const fhirJSON = "application/fhir+json"

func (ts *testServer) create(typ, body string) map[string]any {
	ts.t.Helper()
	r := ts.do("POST", "/"+typ, fhirJSON, body)
	require.Equal(ts.t, 201, r.Status, "%s", r.Body)
	return r.json(ts.t)
}

// assertOutcome checks an error response: status, issue code and, when
// given, the expression of the first issue.
func assertOutcome(t *testing.T, r response, status int, code, expression string) {
	t.Helper()
	assert.Equal(t, status, r.Status, "body: %s", r.Body)
	assert.Contains(t, r.Header.Get("Content-Type"), "application/fhir+json")
	var oo struct {
		ResourceType string
		Issue        []struct {
			Severity, Code, Diagnostics string
			Expression                  []string
		}
	}
	require.NoError(t, json.Unmarshal(r.Body, &oo), "body: %s", r.Body)
	assert.Equal(t, "OperationOutcome", oo.ResourceType)
	require.NotEmpty(t, oo.Issue)
	assert.Equal(t, code, oo.Issue[0].Code, "diagnostics: %s", oo.Issue[0].Diagnostics)
	if expression != "" {
		assert.Contains(t, oo.Issue[0].Expression, expression)
	}
}

func compact(t *testing.T, s string) string {
	var b bytes.Buffer
	require.NoError(t, json.Compact(&b, []byte(s)))
	return b.String()
}

var _ = outcome.Invalid
var _ resources.Caller
