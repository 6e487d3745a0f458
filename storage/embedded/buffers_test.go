package embedded

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestSharedBuffersFollowMemory(t *testing.T) {
	dir := t.TempDir()
	write := func(s string) string {
		p := filepath.Join(dir, "meminfo")
		assert.NoError(t, os.WriteFile(p, []byte(s), 0o600))
		return p
	}
	assert.Equal(t, 24*1024, memTotalMB(write("MemTotal:       25165824 kB\nMemFree: 1 kB\n")))
	assert.Equal(t, 0, memTotalMB(write("nothing here\n")))
	assert.Equal(t, 0, memTotalMB(filepath.Join(dir, "missing")))
	for mem, want := range map[int]int{0: 128, 1024: 128, 4096: 256, 24 * 1024: 1024, 256 * 1024: 1024} {
		assert.Equal(t, want, clampBuffers(mem/16), "memory %d MB", mem)
	}
}
