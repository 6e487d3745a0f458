package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// ms1to returns 1ms, 2ms, ... n ms.
func ms1to(n int) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = time.Duration(i+1) * time.Millisecond
	}
	return out
}

func TestPercentile(t *testing.T) {
	tests := []struct {
		name   string
		values []time.Duration
		p      float64
		want   time.Duration
	}{
		{"empty", nil, 50, 0},
		{"single p50", ms1to(1), 50, time.Millisecond},
		{"single p99", ms1to(1), 99, time.Millisecond},
		{"two p50 is the lower", ms1to(2), 50, time.Millisecond},
		{"100 p50", ms1to(100), 50, 50 * time.Millisecond},
		{"100 p99", ms1to(100), 99, 99 * time.Millisecond},
		{"100 p100", ms1to(100), 100, 100 * time.Millisecond},
		{"100 p0 is the minimum", ms1to(100), 0, time.Millisecond},
		{"1000 p99", ms1to(1000), 99, 990 * time.Millisecond},
		{"1001 p99 rounds up", ms1to(1001), 99, 991 * time.Millisecond},
		{"10 p99 is the maximum", ms1to(10), 99, 10 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, percentile(tt.values, tt.p))
		})
	}
}

func TestSummarizeDoesNotNeedSortedInput(t *testing.T) {
	in := []time.Duration{5, 1, 4, 2, 3}
	s := summarize(in)
	assert.Equal(t, latency{N: 5, Min: 1, P50: 3, P99: 5, Max: 5, Mean: 3}, s)
	assert.Equal(t, []time.Duration{5, 1, 4, 2, 3}, in, "input must not be reordered")
}

func TestRates(t *testing.T) {
	assert.Equal(t, 0.0, perSecond(10, 0))
	assert.Equal(t, 5.0, perSecond(10, 2))
	assert.Equal(t, 0.0, ratio(1, 0))
	assert.Equal(t, 1.5, ratio(3, 2))
	assert.Equal(t, 1.5, ms(1500*time.Microsecond))
}

// Each kind and level takes its median pass by throughput, with that
// pass's latencies; the lower middle of an even number.
func TestMedianPassTakesEachLevelsMiddleRun(t *testing.T) {
	pass := func(rps1, rps16 float64) []searchKind {
		return []searchKind{{Name: "patient+code", Server: []levelResult{
			{Concurrency: 1, RPS: rps1, P50ms: 1000 / rps1}, {Concurrency: 16, RPS: rps16, P50ms: 16000 / rps16}}}}
	}
	tests := []struct {
		name          string
		passes        [][]searchKind
		want1, want16 float64
	}{
		{"one pass", [][]searchKind{pass(100, 800)}, 100, 800},
		{"three", [][]searchKind{pass(100, 900), pass(300, 700), pass(200, 800)}, 200, 800},
		{"a slow outlier", [][]searchKind{pass(50, 800), pass(200, 810), pass(210, 820)}, 200, 810},
		{"two: the lower", [][]searchKind{pass(300, 700), pass(100, 900)}, 100, 700},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := medianPass(tt.passes)
			require.Len(t, got, 1)
			assert.Equal(t, "patient+code", got[0].Name)
			assert.Equal(t, tt.want1, got[0].Server[0].RPS)
			assert.Equal(t, 1000/tt.want1, got[0].Server[0].P50ms, "latency from the same pass")
			assert.Equal(t, tt.want16, got[0].Server[1].RPS)
			assert.Equal(t, 16, got[0].Server[1].Concurrency)
		})
	}
	assert.Nil(t, medianPass(nil))
}
