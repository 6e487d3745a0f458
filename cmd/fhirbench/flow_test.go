package main

import (
	"cmp"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testConfig is a small but complete run against base.
func testConfig(t *testing.T, base, secret string) config {
	return config{
		base: base, creds: credentials{clientID: "bench client", clientSecret: secret, scope: "system/*.*"},
		fixtures: []string{writeFixtures(t)}, copies: 2, warmCopies: 1, ingestConcurrency: 3,
		levels: []int{1, 4}, reads: 60, warmup: 5,
		jsonOut: filepath.Join(t.TempDir(), "bench.json"), timeout: time.Minute, requestTimeout: 10 * time.Second,
	}
}

func TestRunAgainstFakeServer(t *testing.T) {
	const secret = "s3:cr/t+&%" // needs form-encoding inside Basic auth
	tests := []struct {
		name       string
		fake       fakeOptions
		secret     string
		wantErr    []string // substrings of the error; none means success
		wantOutput []string
	}{
		{name: "ok", fake: fakeOptions{expiresIn: 300}, wantOutput: []string{"server", "resources/s", "p99 ms", "GOMAXPROCS", "AGAINST MEDPLUM", "Medplum's run's 0.14 ms"}},
		{name: "wrong secret", fake: fakeOptions{expiresIn: 300}, secret: "nope", wantErr: []string{"HTTP 401", "invalid_client"}},
		{
			name: "bundle rejected", fake: fakeOptions{expiresIn: 300, rejectPatients: true},
			wantErr:    []string{"bundles failed"},
			wantOutput: []string{"HTTP 400", "Patient.name: minimum required = 1", "ERRORS"},
		},
		{
			name: "reads fail", fake: fakeOptions{expiresIn: 300, failReads: true},
			wantErr:    []string{"failed"},
			wantOutput: []string{"HTTP 404", "is not known"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := tt.fake
			opts.clientID, opts.secret = "bench client", secret
			srv, fake := newFakeFHIR(t, opts)
			cfg := testConfig(t, srv.URL+"/fhir", cmp.Or(tt.secret, secret))
			var out, log strings.Builder
			err := run(context.Background(), cfg, &out, &log)
			t.Logf("stdout:\n%s\nstderr:\n%s", out.String(), log.String())
			for _, s := range tt.wantOutput {
				assert.Contains(t, out.String(), s)
			}
			if len(tt.wantErr) > 0 {
				require.Error(t, err)
				for _, s := range tt.wantErr {
					assert.Contains(t, err.Error(), s)
				}
				return
			}
			require.NoError(t, err)
			checkSuccessfulRun(t, fake, cfg)
		})
	}
}

// checkSuccessfulRun checks what the fake saw and what the JSON file says.
func checkSuccessfulRun(t *testing.T, fake *fakeFHIR, cfg config) {
	t.Helper()
	assert.Empty(t, fake.problems)
	assert.Equal(t, 1, fake.providers, "the provider bundle is loaded once")
	for key, n := range fake.puts {
		assert.Equal(t, 1, n, "PUT %s written by more than one copy", key)
	}
	assert.Len(t, fake.puts, 2*(cfg.warmCopies+cfg.copies), "Patient and Condition, fresh ids per copy, warm-up included")

	b, err := os.ReadFile(cfg.jsonOut)
	require.NoError(t, err)
	var rep struct {
		Ingest     ingestResult  `json:"ingest"`
		Reads      []levelResult `json:"reads"`
		HTTPNoop   []levelResult `json:"http_noop"`
		ErrorCount int           `json:"error_count"`
		Runtime    runtimeInfo   `json:"runtime"`
	}
	require.NoError(t, json.Unmarshal(b, &rep))
	// Timed: copies x (3 urn:uuid entries + 3 PUT-style entries); the
	// provider entry and the warm-up copy are not counted.
	assert.Equal(t, cfg.copies*6, rep.Ingest.Resources)
	assert.Zero(t, rep.ErrorCount)
	assert.Positive(t, rep.Runtime.NumCPU)
	require.Len(t, rep.Reads, len(cfg.levels))
	require.Len(t, rep.HTTPNoop, len(cfg.levels), "the HTTP hop is measured at every level")
	for i, l := range rep.Reads {
		assert.Equal(t, cfg.levels[i], l.Concurrency)
		assert.Equal(t, cfg.reads, l.Requests)
		assert.Positive(t, l.P50ms)
		assert.GreaterOrEqual(t, l.P99ms, l.P50ms)
		assert.Positive(t, l.RPS)
	}
}

// TestOnBase: the tool must only talk to the base URL's server.
func TestOnBase(t *testing.T) {
	tests := []struct {
		base, ref, want string
		ok              bool
	}{
		{"http://127.0.0.1:8080/fhir", "http://127.0.0.1:8080/auth/token", "http://127.0.0.1:8080/auth/token", true},
		{"http://127.0.0.1:8080/fhir", "/auth/token", "http://127.0.0.1:8080/auth/token", true},
		{"http://127.0.0.1:8080/fhir", "http://localhost:8080/auth/token", "http://127.0.0.1:8080/auth/token", true},
		{"http://127.0.0.1:8080/fhir", "http://127.0.0.1:9090/auth/token", "", false},
		{"http://127.0.0.1:8080/fhir", "https://auth.example.com/token", "", false},
		{"http://127.0.0.1:8080/fhir", "https://127.0.0.1:8080/token", "", false},
	}
	for _, tt := range tests {
		got, err := onBase(tt.base, tt.ref)
		if !tt.ok {
			assert.Error(t, err, tt.ref)
			continue
		}
		require.NoError(t, err, tt.ref)
		assert.Equal(t, tt.want, got)
	}
}
