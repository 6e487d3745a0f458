package main

import (
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseFlags(t *testing.T) {
	env := func(vars map[string]string) func(string) string {
		return func(k string) string { return vars[k] }
	}
	base := []string{"--base", "http://127.0.0.1:8080/fhir/", "--client-id", "bench"}
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr string
		check   func(t *testing.T, c config)
	}{
		{
			name: "defaults, secret from env", args: base, env: map[string]string{"FHIRBENCH_CLIENT_SECRET": "e"},
			check: func(t *testing.T, c config) {
				assert.Equal(t, "http://127.0.0.1:8080/fhir", c.base)
				assert.Equal(t, "e", c.creds.clientSecret)
				assert.Equal(t, "system/*.*", c.creds.scope)
				assert.Equal(t, []string{"../shared/fixtures/synthea-blaze"}, c.fixtures)
				assert.Equal(t, []int{1, 16, 64}, c.levels)
				assert.Equal(t, 3, c.copies)
				assert.Equal(t, 1, c.warmCopies)
				assert.False(t, c.search)
				assert.Equal(t, []int{1, 32}, c.searchLevels)
				assert.Equal(t, 200, c.searchReads)
				assert.Equal(t, 10, c.everythingReads)
				assert.Equal(t, 4, c.ingestConcurrency)
				assert.Equal(t, 2000, c.reads)
				assert.Equal(t, 20*time.Minute, c.timeout)
			},
		},
		{
			name: "flag secret wins, repeatable and comma fixtures",
			args: append(base, "--client-secret", "f", "--fixtures", "a,b", "--fixtures", "c", "--concurrency", "2, 8"),
			env:  map[string]string{"FHIRBENCH_CLIENT_SECRET": "e"},
			check: func(t *testing.T, c config) {
				assert.Equal(t, "f", c.creds.clientSecret)
				assert.Equal(t, []string{"a", "b", "c"}, c.fixtures)
				assert.Equal(t, []int{2, 8}, c.levels)
			},
		},
		{
			name: "search only implies search; kinds by name",
			args: append(base, "--client-secret", "f", "--search-only", "--search-kinds", "name,_include"),
			check: func(t *testing.T, c config) {
				assert.True(t, c.search)
				assert.True(t, c.searchOnly)
				assert.Equal(t, []string{"name", "_include"}, c.searchKinds)
			},
		},
		{
			name: "ingest only, server pid",
			args: append(base, "--client-secret", "f", "--ingest-only", "--server-pid", "42", "--ingest-concurrency", "8"),
			check: func(t *testing.T, c config) {
				assert.True(t, c.ingestOnly)
				assert.False(t, c.scale.on())
				assert.Equal(t, 42, c.serverPID)
				assert.Equal(t, 100*time.Millisecond, c.rssInterval)
				assert.Equal(t, 8, c.ingestConcurrency)
			},
		},
		{
			name: "scale, default subset",
			args: append(base, "--client-secret", "f", "--scale-patients", "50,400", "--scale-batch", "5"),
			check: func(t *testing.T, c config) {
				assert.True(t, c.scale.on())
				assert.Equal(t, []int{50, 400}, c.scale.patients)
				assert.Equal(t, []keepRule{{"Encounter", 4}, {"Observation", 32}}, c.scale.keep)
				assert.Equal(t, 5, c.scale.perBundle)
				assert.Equal(t, 3, c.scale.passes, "the median of three by default")
			},
		},
		{name: "ingest only excludes search", args: append(base, "--client-secret", "y", "--ingest-only", "--search"), wantErr: "--ingest-only"},
		{name: "scale excludes search only", args: append(base, "--client-secret", "y", "--scale-patients", "5", "--search-only"), wantErr: "--scale-patients"},
		{name: "scale passes", args: append(base, "--client-secret", "y", "--scale-patients", "5", "--scale-passes", "0"), wantErr: "--scale-passes"},
		{name: "scale counts ascend", args: append(base, "--client-secret", "y", "--scale-patients", "400,50"), wantErr: "--scale-patients"},
		{name: "bad subset", args: append(base, "--client-secret", "y", "--scale-patients", "5", "--scale-per-patient", "Observation"), wantErr: "--scale-per-patient"},
		{name: "no secret", args: base, wantErr: "client-secret"},
		{name: "no base", args: []string{"--client-id", "x", "--client-secret", "y"}, wantErr: "--base"},
		{name: "bad level", args: append(base, "--client-secret", "y", "--concurrency", "1,0"), wantErr: "--concurrency"},
		{name: "unbounded copies", args: append(base, "--client-secret", "y", "--copies", "0"), wantErr: "--copies"},
		{name: "no-auth does not exist", args: append(base, "--no-auth"), wantErr: "not defined"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseFlags(tt.args, env(tt.env), io.Discard)
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			tt.check(t, c)
		})
	}
}
