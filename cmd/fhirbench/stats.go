package main

import (
	"math"
	"slices"
	"time"
)

// latency summarises the durations of one measured run.
type latency struct {
	N    int
	Min  time.Duration
	P50  time.Duration
	P99  time.Duration
	Max  time.Duration
	Mean time.Duration
}

// summarize sorts a copy of d and reads off the percentiles.
func summarize(d []time.Duration) latency {
	if len(d) == 0 {
		return latency{}
	}
	s := slices.Clone(d)
	slices.Sort(s)
	var sum time.Duration
	for _, v := range s {
		sum += v
	}
	return latency{
		N: len(s), Min: s[0], Max: s[len(s)-1], Mean: sum / time.Duration(len(s)),
		P50: percentile(s, 50), P99: percentile(s, 99),
	}
}

// percentile is the nearest-rank percentile of sorted values: the smallest
// value that at least p percent of the values do not exceed. Unlike
// interpolation it always returns a latency that was actually observed.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}

// perSecond is a rate that is 0, not Inf, for an empty run.
func perSecond(n int, seconds float64) float64 {
	if seconds <= 0 {
		return 0
	}
	return float64(n) / seconds
}

// ms converts a duration to float milliseconds for output.
func ms(d time.Duration) float64 {
	return float64(d) / float64(time.Millisecond)
}

// ratio is a/b, or 0 when b is 0 (nothing to compare against).
func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}
