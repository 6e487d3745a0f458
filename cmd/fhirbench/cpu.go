package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// clockTicks is USER_HZ, the unit of /proc's CPU times: 100 on every
// Linux architecture Go builds for (the kernel fixes it for user space).
const clockTicks = 100

// cpuTimes is what the server and the whole machine had spent on the CPU
// at one moment, in clock ticks: the server's user and system time, and
// every core's busy time (all but idle and iowait).
type cpuTimes struct {
	server, busy int64
}

func readCPU(pid int) (cpuTimes, error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return cpuTimes{}, err
	}
	server, err := parseProcStat(stat)
	if err != nil {
		return cpuTimes{}, err
	}
	all, err := os.ReadFile("/proc/stat")
	if err != nil {
		return cpuTimes{}, err
	}
	busy, err := parseMachineBusy(all)
	if err != nil {
		return cpuTimes{}, err
	}
	return cpuTimes{server: server, busy: busy}, nil
}

// parseProcStat is utime + stime of /proc/PID/stat: fields 14 and 15,
// counted after the command name, which is in parentheses and may itself
// hold spaces and parentheses.
func parseProcStat(b []byte) (int64, error) {
	end := bytes.LastIndexByte(b, ')')
	if end < 0 {
		return 0, errors.New("/proc/PID/stat: no command name")
	}
	f := strings.Fields(string(b[end+1:]))
	// f[0] is field 3 (state): utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, errors.New("/proc/PID/stat: too few fields")
	}
	var sum int64
	for _, s := range f[11:13] {
		n, err := ticks("/proc/PID/stat", s)
		if err != nil {
			return 0, err
		}
		sum += n
	}
	return sum, nil
}

func ticks(file, s string) (int64, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%s: unexpected time %q", file, s)
	}
	return n, nil
}

// parseMachineBusy is the busy time of all cores from /proc/stat's first
// line ("cpu  user nice system idle iowait irq softirq steal ..."): every
// column but idle and iowait. Guest time is already in user and nice.
func parseMachineBusy(b []byte) (int64, error) {
	line, _, _ := bytes.Cut(b, []byte("\n"))
	f := strings.Fields(string(line))
	if len(f) < 9 || f[0] != "cpu" {
		return 0, errors.New("/proc/stat: no cpu line")
	}
	var busy int64
	for i, s := range f[1:9] {
		n, err := ticks("/proc/stat", s)
		if err != nil {
			return 0, err
		}
		if i != 3 && i != 4 { // idle, iowait
			busy += n
		}
	}
	return busy, nil
}

// seconds is the CPU time between two readings.
func (c cpuTimes) since(before cpuTimes) (server, busy float64) {
	return float64(c.server-before.server) / clockTicks, float64(c.busy-before.busy) / clockTicks
}
