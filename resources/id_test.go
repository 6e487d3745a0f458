package resources

import (
	"regexp"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var uuidV8 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// A run's ids sort in the order they were made and share their first
// eight digits, so that their index entries are neighbours; the next run
// starts elsewhere.
func TestIDsOfARunSortInTheOrderMade(t *testing.T) {
	var s idSource
	first := s.id()
	prev := first
	for i := 1; i < idRun; i++ {
		id := s.id()
		require.Regexp(t, uuidV8, id)
		require.Equal(t, first[:8], id[:8], "id %d left the run", i)
		require.Greater(t, id, prev, "id %d sorts before the one made before it", i)
		prev = id
	}
	next := s.id()
	assert.Regexp(t, uuidV8, next)
	assert.NotEqual(t, first[:8], next[:8], "a run's ids after idRun")
	assert.Equal(t, "0000", next[9:13], "the next run counts from zero")
}

func TestIDsAreUniqueAcrossGoroutines(t *testing.T) {
	var s idSource
	var mu sync.Mutex
	seen := map[string]bool{}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20_000 {
				id := s.id()
				mu.Lock()
				seen[id] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	assert.Len(t, seen, 8*20_000)
}

// What a run's ids share is their first 48 bits: the rest of each is
// random, so that one id does not give away its neighbours.
func TestIDsOfARunDifferInTheirRandomBits(t *testing.T) {
	var s idSource
	a, b := s.id(), s.id()
	assert.NotEqual(t, a[14:], b[14:])
	assert.NotEqual(t, a[24:], b[24:])
}
