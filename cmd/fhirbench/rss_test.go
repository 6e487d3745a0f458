package main

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const procStatus = `Name:	fhirserver
Umask:	0022
State:	S (sleeping)
Tgid:	4242
Pid:	4242
VmPeak:	 2314060 kB
VmSize:	 2248524 kB
VmLck:	       0 kB
VmHWM:	  301234 kB
VmRSS:	  187652 kB
RssAnon:	  160000 kB
VmSwap:	       0 kB
Threads:	14
`

func TestParseProcStatus(t *testing.T) {
	rss, hwm, err := parseProcStatus(strings.NewReader(procStatus))
	require.NoError(t, err)
	assert.Equal(t, int64(187652), rss)
	assert.Equal(t, int64(301234), hwm)
	assert.InDelta(t, 192.155648, mb(rss), 1e-6, "KiB to decimal MB")

	_, _, err = parseProcStatus(strings.NewReader("Name:\tkthreadd\nState:\tS (sleeping)\n"))
	assert.ErrorContains(t, err, "no VmRSS")
	_, _, err = parseProcStatus(strings.NewReader("VmHWM:\t12 kB\nVmRSS:\t12 MB\n"))
	assert.ErrorContains(t, err, "unexpected value")
}

func TestRSSSamplerPhases(t *testing.T) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("no /proc")
	}
	ctx := context.Background()
	_, err := startRSS(ctx, 1<<30, time.Millisecond)
	assert.ErrorContains(t, err, "--server-pid")

	s, err := startRSS(ctx, os.Getpid(), 5*time.Millisecond)
	require.NoError(t, err)
	var keep [][]byte
	s.phase("grow", func() {
		for range 20 {
			b := make([]byte, 4<<20)
			for i := range b {
				b[i] = 1
			}
			keep = append(keep, b)
			time.Sleep(2 * time.Millisecond)
		}
	})
	s.phase("short", func() {})
	m := s.finish()
	require.NotNil(t, m)
	require.Len(t, m.Phases, 2)
	assert.Equal(t, "grow", m.Phases[0].Phase)
	assert.GreaterOrEqual(t, m.Phases[0].PeakRSSKiB, int64(80<<10), "80 MiB were touched")
	assert.Greater(t, m.Phases[0].Samples, 2)
	assert.GreaterOrEqual(t, m.Phases[1].Samples, 2, "both ends of a phase are sampled")
	assert.GreaterOrEqual(t, m.HWMKiB, m.Phases[0].PeakRSSKiB)
	assert.Positive(t, m.EndRSSKiB)
	assert.Len(t, keep, 20)

	var out strings.Builder
	(&report{ServerMemory: &memReport{PID: 7, IntervalMs: 100, HWMKiB: 400000, EndRSSKiB: 200000, Phases: []memPhase{
		{Phase: "ingest", PeakRSSKiB: 500000}, {Phase: "read c=64", PeakRSSKiB: 250000},
	}}}).memRows(&out)
	assert.Contains(t, out.String(), "SERVER MEMORY AND CPU (pid 7")
	assert.Regexp(t, `ingest\s+512\.0`, out.String())
	assert.Contains(t, out.String(), "GOAL server RSS under the c=64 reads 256.0 MB  goal <= 300 MB  met")

	var none *rssSampler
	ran := false
	none.phase("x", func() { ran = true })
	assert.True(t, ran)
	assert.Nil(t, none.finish())
}
