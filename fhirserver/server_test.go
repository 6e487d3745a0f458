package fhirserver_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"github.com/labstack/echo/v4"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/fhirserver/fhirserver/fhirserver"
	"github.com/fhirserver/fhirserver/operations/breakglass"
	"github.com/fhirserver/fhirserver/operations/scheduling"
	"github.com/fhirserver/fhirserver/operations/telehealth"
	"github.com/fhirserver/fhirserver/outcome"
	"github.com/fhirserver/fhirserver/resources"
	"github.com/fhirserver/fhirserver/smart"
	"github.com/fhirserver/fhirserver/storage"
	"github.com/fhirserver/fhirserver/storage/audit"
	"github.com/fhirserver/fhirserver/storage/keyring"
	"github.com/fhirserver/fhirserver/storage/keys"
	"github.com/fhirserver/fhirserver/storage/oauth"
	schedstore "github.com/fhirserver/fhirserver/storage/scheduling"
	"github.com/fhirserver/fhirserver/storage/storagetest"
)

func TestMain(m *testing.M) { storagetest.Main(m) }

// testServer is a FHIR server on a fresh database.
type testServer struct {
	t         testing.TB
	URL       string // the FHIR base
	token     string // a token for system/*.cruds
	clientID  string // the client token belongs to
	store     *storage.Store
	owner     string // a connection string of the database's owner
	res       *resources.Service
	app       *echo.Echo
	video     []*fakeVideo
	notified  *notified
	tele      *telehealth.Service
	auditKey  []byte
	cipher    *keys.Cipher // the field keys' cipher
	failAudit atomic.Bool  // makes every audit record fail, as an outage would
	smart     *smart.Provider
}

func newServer(t *testing.T, opts ...func(*fhirserver.Config)) *testServer {
	t.Helper()
	return newServerLifespan(t, 15*time.Minute, opts...)
}

// newServerLifespan is newServer with access tokens of the given lifespan.
func newServerLifespan(t *testing.T, lifespan time.Duration, opts ...func(*fhirserver.Config)) *testServer {
	t.Helper()
	return newServerWith(t, lifespan, nil, opts...)
}

// newServerWith is newServerLifespan whose audit log wrap may replace: a
// benchmark's no-op sink (there is no runtime switch for it).
func newServerWith(t testing.TB, lifespan time.Duration, wrap func(fhirserver.Auditor) fhirserver.Auditor, opts ...func(*fhirserver.Config)) *testServer {
	t.Helper()
	return newServerOn(t, storage.Options{}, lifespan, wrap, opts...)
}

// newServerStore is newServer whose pool has the given options (a
// statement timeout).
func newServerStore(t *testing.T, opt storage.Options) *testServer {
	t.Helper()
	return newServerOn(t, opt, 15*time.Minute, nil)
}

func newServerOn(t testing.TB, opt storage.Options, lifespan time.Duration, wrap func(fhirserver.Auditor) fhirserver.Auditor, opts ...func(*fhirserver.Config)) *testServer {
	t.Helper()
	store, owner := storagetest.OpenWith(t, opt)
	ts := &testServer{t: t, store: store, owner: owner}
	srv := httptest.NewUnstartedServer(nil)
	cfg := fhirserver.Config{BaseURL: "http://" + srv.Listener.Addr().String(), Log: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		o(&cfg)
	}
	provider, err := smart.New(context.Background(), smart.Config{
		Issuer: cfg.BaseURL, FHIRBase: cfg.BaseURL + "/fhir", TokenLifespan: lifespan, HashCost: bcrypt.MinCost,
	}, oauth.New(store), nil)
	require.NoError(t, err)
	ts.smart = provider
	rolesCtx, stopRoles := context.WithCancel(context.Background())
	t.Cleanup(stopRoles)
	roles := fhirserver.NewRoles(rolesCtx, store, nil)
	res := resources.New(store, nil)
	ts.res = res
	provider.SetDirectory(fhirserver.Directory(res))
	kp, err := keyring.OpenLocalFile(filepath.Join(t.TempDir(), "kek"))
	require.NoError(t, err)
	auditKey, err := audit.New(store).Key(context.Background(), kp)
	require.NoError(t, err)
	cipher, err := keys.New(store).Cipher(context.Background(), kp)
	require.NoError(t, err)
	store.SetFieldCipher(cipher)
	ts.cipher = cipher
	auditLog, err := audit.New(store).Open(context.Background(), auditKey, audit.Stripes)
	require.NoError(t, err)
	t.Cleanup(auditLog.Close)
	ts.auditKey = auditKey
	var auditor fhirserver.Auditor = testAuditor{auditLog, &ts.failAudit}
	if wrap != nil {
		auditor = wrap(auditor)
	}
	ts.video = []*fakeVideo{{name: "primary"}, {name: "backup"}}
	ts.notified = &notified{}
	tele := &telehealth.Service{Res: res, Store: schedstore.New(store), Notifier: ts.notified, TokenTTL: time.Minute,
		Providers: []telehealth.VideoProvider{ts.video[0], ts.video[1]}}
	ts.tele = tele
	ts.app = fhirserver.New(cfg, fhirserver.Deps{
		Resources:   res,
		Auth:        fhirserver.SMART(provider, roles, store),
		RoleAdmin:   store,
		Roles:       roles,
		Blind:       store.BlindToken,
		BlindString: store.BlindString,
		VerifyAudit: func(ctx context.Context) (int64, *audit.Break, error) { return audit.New(store).Verify(ctx, auditKey) },
		BreakGlass:  breakglass.New(res, time.Hour, 72*time.Hour),
		Scheduling:  scheduling.New(res, schedstore.New(store), 31),
		Telehealth:  tele,
		Audit:       auditor,
		Ready:       store.Ready,
		Discovery:   provider.Discovery,
		OAuth:       provider.Handlers(),
		Security:    provider.Security(),
	})
	srv.Config.Handler = ts.app
	srv.Start()
	t.Cleanup(srv.Close)
	ts.URL = cfg.BaseURL + "/fhir"
	ts.clientID, ts.token = ts.clientToken("system/*.cruds")
	return ts
}

type response struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r response) json(t testing.TB) map[string]any {
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

// testAuditor is the real audit log, which a test can make fail.
type testAuditor struct {
	log  *audit.Log
	fail *atomic.Bool
}

func (a testAuditor) Record(ctx context.Context, event []byte) error {
	if a.fail.Load() {
		return errors.New("the audit log is unavailable")
	}
	return a.log.Record(ctx, event)
}
