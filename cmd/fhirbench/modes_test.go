package main

import (
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

// The scale mode against the fake: providers once, trimmed patients in
// batches up to each count, the searches at each step, the comparison.
func TestScaleModeAgainstFakeServer(t *testing.T) {
	srv, fake := newFakeFHIR(t, fakeOptions{clientID: "c", secret: "s", expiresIn: 300})
	cfg := config{
		base: srv.URL + "/fhir", creds: credentials{clientID: "c", clientSecret: "s", scope: "system/*.*"},
		fixtures: []string{writeScaleFixtures(t)}, ingestConcurrency: 3, warmup: 2,
		searchLevels: []int{1, 2}, searchReads: 4, everythingReads: 2,
		scale:     scaleConfig{patients: []int{3, 7}, keep: []keepRule{{"Encounter", 1}, {"Observation", 2}}, perBundle: 2, passes: 2},
		serverPID: os.Getpid(), rssInterval: 10 * time.Millisecond,
		jsonOut: filepath.Join(t.TempDir(), "scale.json"), timeout: time.Minute, requestTimeout: 10 * time.Second,
	}
	var out, log strings.Builder
	require.NoError(t, run(context.Background(), cfg, &out, &log))
	t.Logf("stdout:\n%s\nstderr:\n%s", out.String(), log.String())
	assert.Empty(t, fake.problems)
	assert.Equal(t, 1, fake.providers)
	assert.Len(t, fake.resources["Patient"], 7)
	assert.Len(t, fake.resources["Observation"], 14)
	assert.Empty(t, fake.resources["DiagnosticReport"], "trimmed away")
	assert.ElementsMatch(t, []int{10, 5, 10, 10}, fake.bundles, "patients 0-1, 2, then 3-4, 5-6: Bundles of at most 2, none across steps")

	for _, s := range []string{"SCALE: each patient copy keeps its Patient, Encounter=1,Observation=2", "SEARCH at 3 patients",
		"SEARCH at 7 patients", "SCALE GOAL: searches/s at 7 patients over searches/s at 3", "search patient+code @7 pass 2 c=2", "ingest to 7 patients"} {
		assert.Contains(t, out.String(), s)
	}
	b, err := os.ReadFile(cfg.jsonOut)
	require.NoError(t, err)
	var rep report
	require.NoError(t, json.Unmarshal(b, &rep))
	assert.Equal(t, "scale", rep.Mode)
	require.NotNil(t, rep.Scale)
	require.Len(t, rep.Scale.Steps, 2)
	assert.Equal(t, 3, rep.Scale.Steps[0].Patients)
	assert.Equal(t, 7, rep.Scale.Steps[1].Patients)
	assert.Equal(t, 15, rep.Scale.Steps[0].StepResources)
	assert.Equal(t, 1+35, rep.Scale.Steps[1].Resources, "the provider's entry and 7 patients of 5")
	for _, step := range rep.Scale.Steps {
		require.Len(t, step.Passes, 2, "every pass kept")
		assert.Equal(t, medianPass(step.Passes), step.Searches, "compared by the median pass")
	}
	assert.Len(t, rep.Scale.Comparison, len(searchKinds)*2)
	for _, c := range rep.Scale.Comparison {
		assert.Positive(t, c.FirstRPS, c.Kind)
		assert.Positive(t, c.LastRPS, c.Kind)
		assert.InDelta(t, c.LastRPS/c.FirstRPS, c.Ratio, 1e-9)
	}
	require.NotNil(t, rep.ServerMemory)
	assert.Len(t, rep.ServerMemory.Phases, 2+2*2*len(searchKinds)*2, "two loads, every kind at both levels in both passes at both steps")
}

// --ingest-only: the ingest and the COPY of exactly the timed rows, the
// summary line, the server's memory; no reads, no searches.
func TestIngestOnlyWithFloor(t *testing.T) {
	dbURL := testDatabaseURL(t)
	srv, _ := newFakeFHIR(t, fakeOptions{clientID: "bench client", secret: "s", expiresIn: 300})
	cfg := testConfig(t, srv.URL+"/fhir", "s")
	cfg.databaseURL, cfg.ingestOnly, cfg.copies = dbURL, true, 3
	cfg.serverPID, cfg.rssInterval = os.Getpid(), 10*time.Millisecond
	var out, log strings.Builder
	require.NoError(t, run(context.Background(), cfg, &out, &log))
	t.Logf("stdout:\n%s", out.String())
	assert.Regexp(t, `INGEST SUMMARY: server 18 resources in [0-9.]+ s = [0-9]+ resources/s \(ingest concurrency 3, 0 failed bundles\); `+
		`COPY of the same rows 18 in [0-9.]+ s = [0-9]+ rows/s; ingest time / COPY time [0-9.]+ \(goal <= 6: (met|NOT met)\)`, out.String())
	assert.NotContains(t, out.String(), "READ")
	assert.NotContains(t, out.String(), "GOALS")
	assert.Contains(t, out.String(), "mode ingest-only")

	b, err := os.ReadFile(cfg.jsonOut)
	require.NoError(t, err)
	var rep report
	require.NoError(t, json.Unmarshal(b, &rep))
	assert.Equal(t, 18, rep.Ingest.Resources)
	assert.Equal(t, 18, rep.Floor.Resources, "the COPY covers exactly the timed rows")
	assert.Empty(t, rep.Floor.Reads)
	assert.Empty(t, rep.Reads)
	assert.Empty(t, rep.HTTPNoop)
	require.NotNil(t, rep.Ratios)
	assert.InDelta(t, rep.Ratios.IngestFloorOverServer, rep.Ratios.IngestTimeOverCopyTime, 1e-9, "equal counts: the time ratio is the rate ratio")
	assert.Equal(t, 6.0, rep.Ratios.IngestTimeGoal)
	require.NotNil(t, rep.ServerMemory)
	var names []string
	for _, p := range rep.ServerMemory.Phases {
		names = append(names, p.Phase)
		assert.Positive(t, p.PeakRSSKiB)
	}
	assert.Equal(t, []string{"ingest warm-up (providers, warm-up copies)", "ingest"}, names)
}
