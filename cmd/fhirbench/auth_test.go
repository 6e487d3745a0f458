package main

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestTokenRefetchedBeforeExpiry drives the token source with a fake clock.
func TestTokenRefetchedBeforeExpiry(t *testing.T) {
	srv, _ := newFakeFHIR(t, fakeOptions{clientID: "c", secret: "s", expiresIn: 100})
	ctx := context.Background()
	ts, err := newTokenSource(ctx, http.DefaultClient, srv.URL+"/fhir", credentials{"c", "s", "system/*.*"})
	require.NoError(t, err)
	clock := time.Now()
	ts.now = func() time.Time { return clock }
	ts.current.Store(&token{value: "tok-0", refresh: ts.refreshAt(100)}) // re-anchor on the fake clock

	steps := []struct {
		advance     time.Duration
		wantFetches int64
		wantToken   string
	}{
		{0, 1, "tok-0"},
		{80 * time.Second, 1, "tok-0"},  // 20s left: still fine
		{15 * time.Second, 2, "tok-1"},  // 5s left: inside the 10s margin
		{50 * time.Second, 2, "tok-1"},  // new token's lifetime counts from its fetch
		{100 * time.Second, 3, "tok-2"}, // expired
	}
	for _, s := range steps {
		clock = clock.Add(s.advance)
		tok, err := ts.Token(ctx)
		require.NoError(t, err)
		assert.Equal(t, s.wantToken, tok)
		assert.Equal(t, s.wantFetches, ts.fetches.Load())
	}
}

func TestTokenWithoutExpiryIsKept(t *testing.T) {
	ts := &tokenSource{now: time.Now}
	assert.True(t, ts.refreshAt(0).IsZero())
	assert.True(t, ts.fresh(&token{value: "x"}))
}

func TestDiscoveryErrors(t *testing.T) {
	srv, _ := newFakeFHIR(t, fakeOptions{clientID: "c", secret: "s", expiresIn: 100})
	_, err := newTokenSource(context.Background(), http.DefaultClient, srv.URL+"/nofhir", credentials{"c", "s", "system/*.*"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "smart-configuration")
}
