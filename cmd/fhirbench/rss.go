package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// rssSampler watches the server's resident set while fhirbench loads it
// (--server-pid): /proc/PID/status is read every interval, and each phase
// (ingest, a read level, a search kind at a level) keeps the peak VmRSS
// seen while it ran. At the end VmHWM, the kernel's own high-water mark
// over the process's life, is read once. Only Linux has /proc; elsewhere
// the flag fails at the start.
type rssSampler struct {
	pid      int
	path     string
	interval time.Duration
	stop     context.CancelFunc
	done     chan struct{}

	mu      sync.Mutex
	peak    int64 // KiB, since the current phase began
	samples int
	errs    errorLog
	phases  []memPhase
}

// memPhase is the peak resident set of the server during one phase, and
// the CPU time the server and the whole machine (every core, PostgreSQL
// and fhirbench included) spent meanwhile: on a machine whose cores the
// server shares with its database, its share of the busy time is what it
// takes from PostgreSQL, a steadier figure than a phase's wall time.
type memPhase struct {
	Phase      string  `json:"phase"`
	PeakRSSKiB int64   `json:"peak_rss_kib"`
	Samples    int     `json:"samples"`
	Seconds    float64 `json:"seconds"`
	ServerCPU  float64 `json:"server_cpu_seconds"`
	MachineCPU float64 `json:"machine_busy_cpu_seconds"`
}

// memReport is the server memory section of the report.
type memReport struct {
	PID        int        `json:"pid"`
	IntervalMs int64      `json:"interval_ms"`
	Phases     []memPhase `json:"phases"`
	// The process's peak resident set since it started (VmHWM at the end
	// of the run) and its resident set then.
	HWMKiB    int64    `json:"vm_hwm_kib"`
	EndRSSKiB int64    `json:"end_rss_kib"`
	Errors    []string `json:"errors,omitempty"`
}

// The issue 18 goal 6: the server's resident set under the c=64 reads.
const (
	memGoalPhase = "read c=64"
	memGoalBytes = 300e6
)

// startRSS reads the status file once (a wrong pid fails here, not in the
// middle of a run) and starts sampling it.
func startRSS(ctx context.Context, pid int, interval time.Duration) (*rssSampler, error) {
	s := &rssSampler{pid: pid, path: fmt.Sprintf("/proc/%d/status", pid), interval: interval, done: make(chan struct{})}
	if _, _, err := s.read(); err != nil {
		return nil, fmt.Errorf("--server-pid %d: %w", pid, err)
	}
	ctx, s.stop = context.WithCancel(ctx)
	go func() {
		defer close(s.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				s.sample()
			}
		}
	}()
	return s, nil
}

// read returns VmRSS and VmHWM in KiB.
func (s *rssSampler) read() (rss, hwm int64, err error) {
	f, err := os.Open(s.path)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	return parseProcStatus(f)
}

// sample folds one reading into the current phase's peak.
func (s *rssSampler) sample() {
	rss, _, err := s.read()
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.errs.add(err.Error())
		return
	}
	s.peak = max(s.peak, rss)
	s.samples++
}

// phase runs fn as a named phase and records the peak resident set seen
// from its start to its end (both ends are sampled too, so that a phase
// shorter than the interval still has a figure). A nil sampler just runs fn.
func (s *rssSampler) phase(name string, fn func()) {
	if s == nil {
		fn()
		return
	}
	s.mu.Lock()
	s.peak, s.samples = 0, 0
	s.mu.Unlock()
	start := time.Now()
	cpuBefore, errBefore := readCPU(s.pid)
	s.sample()
	fn()
	s.sample()
	cpuAfter, errAfter := readCPU(s.pid)
	s.mu.Lock()
	defer s.mu.Unlock()
	p := memPhase{Phase: name, PeakRSSKiB: s.peak, Samples: s.samples, Seconds: time.Since(start).Seconds()}
	if err := errors.Join(errBefore, errAfter); err != nil {
		s.errs.add(err.Error())
	} else {
		p.ServerCPU, p.MachineCPU = cpuAfter.since(cpuBefore)
	}
	s.phases = append(s.phases, p)
}

// finish stops the sampling and reads the high-water mark.
func (s *rssSampler) finish() *memReport {
	if s == nil {
		return nil
	}
	s.stop()
	<-s.done
	rss, hwm, err := s.read()
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.errs.add(err.Error())
	}
	return &memReport{PID: s.pid, IntervalMs: s.interval.Milliseconds(), Phases: s.phases, HWMKiB: hwm, EndRSSKiB: rss, Errors: s.errs.first}
}

// parseProcStatus reads VmRSS and VmHWM ("VmRSS:	  123456 kB") from the
// text of /proc/PID/status.
func parseProcStatus(r io.Reader) (rss, hwm int64, err error) {
	found := 0
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok || (key != "VmRSS" && key != "VmHWM") {
			continue
		}
		f := strings.Fields(val)
		if len(f) != 2 || f[1] != "kB" {
			return 0, 0, fmt.Errorf("%s: unexpected value %q", key, val)
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil || n < 0 {
			return 0, 0, fmt.Errorf("%s: unexpected value %q", key, val)
		}
		if key == "VmRSS" {
			rss = n
		} else {
			hwm = n
		}
		found++
	}
	if err := sc.Err(); err != nil {
		return 0, 0, err
	}
	if found != 2 {
		// A kernel thread or a zombie has no Vm* lines.
		return 0, 0, errors.New("no VmRSS and VmHWM in the status (not a live user process?)")
	}
	return rss, hwm, nil
}

// mb is KiB in decimal megabytes, the unit of the goal.
func mb(kib int64) float64 { return float64(kib) * 1024 / 1e6 }

// memRows prints the server's peak resident set per phase.
func (r *report) memRows(w io.Writer) {
	m := r.ServerMemory
	if m == nil {
		return
	}
	fmt.Fprintf(w, "\nSERVER MEMORY AND CPU (pid %d, VmRSS every %d ms; CPU seconds of the server and of the whole machine's busy cores)\n", m.PID, m.IntervalMs)
	const row = "%-52s %13v %8v %9v %11v %12v %7v\n"
	fmt.Fprintf(w, row, "phase", "peak RSS MB", "samples", "seconds", "server cpu", "machine cpu", "server")
	for _, p := range m.Phases {
		share := "-"
		if p.MachineCPU > 0 {
			share = fmt.Sprintf("%.0f%%", 100*p.ServerCPU/p.MachineCPU)
		}
		fmt.Fprintf(w, row, p.Phase, fmt.Sprintf("%.1f", mb(p.PeakRSSKiB)), p.Samples, fmt.Sprintf("%.1f", p.Seconds),
			fmt.Sprintf("%.2f", p.ServerCPU), fmt.Sprintf("%.2f", p.MachineCPU), share)
	}
	fmt.Fprintf(w, "VmHWM at the end (the peak since the server started) %.1f MB, VmRSS then %.1f MB\n", mb(m.HWMKiB), mb(m.EndRSSKiB))
	for _, p := range m.Phases {
		if p.Phase == memGoalPhase {
			verdict := "met"
			if float64(p.PeakRSSKiB)*1024 > memGoalBytes {
				verdict = "NOT met"
			}
			fmt.Fprintf(w, "GOAL server RSS under the c=64 reads %.1f MB  goal <= %.0f MB  %s\n", mb(p.PeakRSSKiB), memGoalBytes/1e6, verdict)
		}
	}
	if len(m.Errors) > 0 {
		fmt.Fprintf(w, "sampling errors: %s\n", strings.Join(m.Errors, "; "))
	}
}
