package main

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestMain lets the test binary play the no-op server, as fhirbench does.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == noopFlag {
		os.Exit(noopMain(os.Args[2:]))
	}
	os.Exit(m.Run())
}

func TestNoopBody(t *testing.T) {
	for _, size := range []int{0, 10, 35, 36, 3000} {
		b := noopBody(size)
		assert.True(t, json.Valid(b), "size %d", size)
		assert.Equal(t, max(size, len(`{"resourceType":"Basic","text":""}`)), len(b), "size %d", size)
	}
}

func TestRunNoopMeasuresASeparateProcess(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg := config{levels: []int{1, 4}, reads: 50, warmup: 5, requestTimeout: 10 * time.Second}
	levels, err := runNoop(ctx, cfg, 1234)
	require.NoError(t, err)
	require.Len(t, levels, 2)
	for i, l := range levels {
		assert.Equal(t, cfg.levels[i], l.Concurrency)
		assert.Equal(t, 50, l.Requests)
		assert.Zero(t, l.Errors, l.errs.first)
		assert.Positive(t, l.P50ms)
	}
}

func TestNoopServerRefusesBadSize(t *testing.T) {
	for _, args := range [][]string{nil, {"x"}, {"-1"}} {
		assert.Equal(t, 2, noopMain(args), "%q", args)
	}
}

func TestMeanResourceSize(t *testing.T) {
	fx, err := loadFixtures([]string{writeFixtures(t)}, &strings.Builder{})
	require.NoError(t, err)
	plan, err := prepareIngest(fx, 0, 2)
	require.NoError(t, err)
	n, err := meanResourceSize(plan)
	require.NoError(t, err)
	assert.Positive(t, n)

	_, err = meanResourceSize(ingestPlan{})
	assert.Error(t, err)
}
