package storagetest

import (
	"context"
	"fmt"

	"github.com/testcontainers/testcontainers-go"
	tcpostgres "github.com/testcontainers/testcontainers-go/modules/postgres"
)

// containerImage is the PostgreSQL the fallback runs: the major version CI
// and the embedded default use.
const containerImage = "postgres:15-alpine"

// container starts PostgreSQL in Docker with testcontainers-go: the last
// resort, for a laptop with Docker but neither DATABASE_URL nor the server
// binaries. It fails, without panicking, where no Docker engine answers.
func container(ctx context.Context) (url string, stop func(), err error) {
	defer func() {
		// Some Docker client set-ups panic instead of failing when no
		// engine is reachable.
		if r := recover(); r != nil {
			err = fmt.Errorf("testcontainers: %v", r)
		}
	}()
	c, err := tcpostgres.Run(ctx, containerImage,
		tcpostgres.WithDatabase("postgres"),
		tcpostgres.WithUsername("postgres"),
		tcpostgres.WithPassword("postgres"),
		tcpostgres.BasicWaitStrategies(),
	)
	if err != nil {
		if c != nil {
			_ = testcontainers.TerminateContainer(c)
		}
		return "", nil, err
	}
	url, err = c.ConnectionString(ctx, "sslmode=disable")
	if err != nil {
		_ = testcontainers.TerminateContainer(c)
		return "", nil, err
	}
	return url, func() { _ = testcontainers.TerminateContainer(c) }, nil
}
