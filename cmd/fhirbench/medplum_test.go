package main

import (
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Each of Medplum's figures a run measured is set against it: met when
// both p50 and p99 are at most half of Medplum's and nothing failed; goal 2
// from the reads at c=64.
func TestMedplumComparison(t *testing.T) {
	lvl := func(c int, p50, p99, rps float64, errs int) levelResult {
		return levelResult{Concurrency: c, Requests: 100, Errors: errs, P50ms: p50, P99ms: p99, RPS: rps}
	}
	tests := []struct {
		name      string
		rep       report
		want      map[string]bool // kind@c -> met
		goal2     bool
		noMedplum bool
	}{
		{
			name: "reads and searches",
			rep: report{Mode: "full",
				Reads:    []levelResult{lvl(1, 1.0, 5.0, 900, 0), lvl(16, 14, 30, 1500, 0), lvl(64, 20, 39, 4100, 0)},
				HTTPNoop: []levelResult{lvl(1, 0.05, 0.1, 20000, 0)},
				Searches: []searchKind{
					{Name: "patient+code", Server: []levelResult{lvl(1, 6.1, 13.05, 100, 0), lvl(16, 41.8, 66.5, 300, 0)}},
					{Name: "_include", Server: []levelResult{lvl(16, 10, 50, 900, 2)}},
				}},
			want:  map[string]bool{"read@1": true, "read@16": false, "read@64": true, "patient+code@1": true, "patient+code@16": false, "_include@16": false},
			goal2: true,
		},
		{
			name:  "goal 2's p99",
			rep:   report{Mode: "full", Reads: []levelResult{lvl(64, 20, 41, 5000, 0)}},
			want:  map[string]bool{"read@64": true},
			goal2: false,
		},
		{name: "ingest only", rep: report{Mode: "ingest-only", Reads: []levelResult{lvl(1, 1, 1, 1, 0)}}, noMedplum: true},
		{name: "nothing measured", rep: report{Mode: "full"}, noMedplum: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.rep.computeMedplum()
			if tt.noMedplum {
				assert.Nil(t, tt.rep.Medplum)
				return
			}
			require.NotNil(t, tt.rep.Medplum)
			got := map[string]bool{}
			for _, f := range tt.rep.Medplum.Figures {
				got[f.Kind+"@"+strconv.Itoa(f.Concurrency)] = f.Met
			}
			assert.Equal(t, tt.want, got)
			assert.Equal(t, tt.goal2, tt.rep.Medplum.Goal2Met)
			var out strings.Builder
			tt.rep.medplumRows(&out)
			assert.Contains(t, out.String(), "AGAINST MEDPLUM")
			assert.Contains(t, out.String(), "goal 2: reads at c=64")
		})
	}
}
