package main

import (
	"runtime/debug"
	"testing"

	"github.com/stretchr/testify/assert"
)

// serve bounds the Go heap softly unless the operator chose: the resident
// set under load stays within issue 18's 300 MB (measured by fhirbench
// --server-pid), and GOGC or GOMEMLIMIT from the environment win.
func TestServeBoundsTheHeapUnlessTheOperatorChose(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	tests := []struct {
		name, gogc, limit string
		wantPercent       int
		wantLimit         int64
	}{
		{"defaults", "", "", 400, 224 << 20},
		{"GOMEMLIMIT set", "", "1GiB", 400, 1 << 40}, // left as the runtime read it (here: the value the test set)
		{"GOGC set", "100", "", 100, 1 << 40},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("GOGC", tt.gogc)
			t.Setenv("GOMEMLIMIT", tt.limit)
			debug.SetGCPercent(100)
			debug.SetMemoryLimit(1 << 40)
			tuneGC()
			assert.Equal(t, tt.wantPercent, debug.SetGCPercent(100))
			assert.Equal(t, tt.wantLimit, debug.SetMemoryLimit(-1))
		})
	}
}
