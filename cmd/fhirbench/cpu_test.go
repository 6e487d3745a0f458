package main

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseProcStat(t *testing.T) {
	for _, tc := range []struct {
		name, stat string
		want       int64
		err        string
	}{
		{"plain", "4242 (fhirserver) S 1 4242 4242 0 -1 4194560 9000 0 0 0 1234 567 0 0 20 0 14 0 100 2248524 46913 x", 1801, ""},
		{"a name with spaces and parentheses", "7 (a (b) c) R 1 7 7 0 -1 0 0 0 0 0 10 20 0 0 20 0 1 0", 30, ""},
		{"no name", "4242 fhirserver S 1", 0, "no command name"},
		{"too short", "4242 (x) S 1 2 3", 0, "too few fields"},
		{"not a number", "4242 (x) S 1 2 3 4 5 6 7 8 9 10 -5 6", 0, "unexpected time"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseProcStat([]byte(tc.stat))
			if tc.err != "" {
				assert.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestParseMachineBusy(t *testing.T) {
	// user nice system idle iowait irq softirq steal guest guest_nice
	busy, err := parseMachineBusy([]byte("cpu  100 2 30 5000 40 1 6 7 9 0\ncpu0 50 1 15 2500 20 0 3 3 4 0\n"))
	require.NoError(t, err)
	assert.Equal(t, int64(100+2+30+1+6+7), busy, "idle and iowait are not busy; guest is already in user")
	_, err = parseMachineBusy([]byte("intr 1 2 3\n"))
	assert.ErrorContains(t, err, "no cpu line")
	_, err = parseMachineBusy([]byte("cpu 1 2 x 4 5 6 7 8\n"))
	assert.ErrorContains(t, err, "unexpected time")
}

// A phase that burns CPU in this process is charged to it, and the
// machine was busy at least as long; the report prints both and the share.
func TestPhasesCountCPU(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	s, err := startRSS(t.Context(), os.Getpid(), 5*time.Millisecond)
	require.NoError(t, err)
	s.phase("ingest", func() {
		// Spin until this process has had 300 ms of CPU, however busy
		// the machine is (a loaded CI machine gave a 300 ms wall-clock
		// spin 90 ms).
		start, err := readCPU(os.Getpid())
		require.NoError(t, err)
		deadline := time.Now().Add(20 * time.Second)
		for x := 0; time.Now().Before(deadline); x++ {
			if x%100_000 != 0 {
				continue
			}
			now, err := readCPU(os.Getpid())
			require.NoError(t, err)
			if now.server-start.server >= clockTicks*3/10 {
				return
			}
		}
	})
	m := s.finish()
	require.Len(t, m.Phases, 1)
	p := m.Phases[0]
	assert.GreaterOrEqual(t, p.ServerCPU, 0.3, "300 ms of spinning")
	assert.GreaterOrEqual(t, p.MachineCPU+0.02, p.ServerCPU, "the machine's busy time includes the process's")

	var out strings.Builder
	r := &report{Ingest: &ingestResult{Resources: 1000}, ServerMemory: &memReport{Phases: []memPhase{
		{Phase: "ingest warm-up (providers, warm-up copies)", ServerCPU: 9, MachineCPU: 10},
		{Phase: "ingest", ServerCPU: 0.5, MachineCPU: 1.25},
	}}}
	r.memRows(&out)
	r.ingestCPU(&out)
	assert.Regexp(t, `ingest\s+0\.0\s+0\s+0\.0\s+0\.50\s+1\.25\s+40%`, out.String())
	assert.Contains(t, out.String(), "SERVER CPU during the timed ingest: 0.5 s, 500.0 us a resource, 40% of the machine's busy CPU (1.2 s)")
}
