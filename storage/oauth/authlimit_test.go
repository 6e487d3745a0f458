package oauth_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirserver/fhirserver/storage/oauth"
	"github.com/fhirserver/fhirserver/storage/storagetest"
)

// Failures counted at once by several servers lock a key exactly once,
// at its threshold, and never deadlock though they share keys; failures
// while locked do not lengthen the lockout.
func TestAuthFailuresLockOnceUnderConcurrency(t *testing.T) {
	t.Parallel()
	db, _ := storagetest.Open(t)
	s := oauth.New(db)
	ctx := context.Background()
	const limit, attempts = 10, 40
	var mu sync.Mutex
	var locked []string
	var wg sync.WaitGroup
	for i := range attempts {
		wg.Go(func() {
			// the address first or last: the store orders the rows it locks
			keys, limits := []string{"client:c1", "address:192.0.2.1"}, []int{limit, 100}
			if i%2 == 0 {
				keys, limits = []string{"address:192.0.2.1", "client:c1"}, []int{100, limit}
			}
			got, err := s.RecordAuthFailure(ctx, oauth.AuthFailure{Keys: keys, Limits: limits, Window: time.Minute, Address: fmt.Sprint(i)})
			assert.NoError(t, err)
			mu.Lock()
			locked = append(locked, got...)
			mu.Unlock()
		})
	}
	wg.Wait()
	assert.Equal(t, []string{"client:c1"}, locked)
	until, err := s.AuthLockedUntil(ctx, []string{"client:c1"})
	require.NoError(t, err)
	assert.WithinDuration(t, time.Now().Add(time.Minute), until, 5*time.Second)
	_, err = s.RecordAuthFailure(ctx, oauth.AuthFailure{Keys: []string{"client:c1"}, Limits: []int{limit}, Window: time.Hour})
	require.NoError(t, err)
	again, err := s.AuthLockedUntil(ctx, []string{"client:c1", "address:192.0.2.1"})
	require.NoError(t, err)
	assert.Equal(t, until, again, "a failure while locked changes nothing")
	require.NoError(t, s.PruneAuthLimits(ctx), "a lockout in force is not stale")
	again, err = s.AuthLockedUntil(ctx, []string{"client:c1"})
	require.NoError(t, err)
	assert.Equal(t, until, again)
}
