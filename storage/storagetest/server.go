package storagetest

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/fhirserver/fhirserver/storage/embedded"
)

// server finds the PostgreSQL server for this test process, in order:
// DATABASE_URL; the embedded cluster in FHIR_TEST_DATA_DIR (which `make
// test` shares between the test processes of one run) or in a private temp
// dir; a Docker container through testcontainers-go when the machine has no
// PostgreSQL binaries. Cleanups go to the package's list, run by Main.
func server(ctx context.Context) (string, error) {
	if u := os.Getenv("DATABASE_URL"); u != "" {
		return u, nil
	}
	u, err := embeddedServer(ctx)
	if !errors.Is(err, embedded.ErrBinariesMissing) {
		return u, err
	}
	u, stop, cerr := container(ctx)
	if cerr != nil {
		return "", fmt.Errorf("no PostgreSQL for tests: DATABASE_URL is not set; the embedded default cannot start (%v); "+
			"and no Docker engine for testcontainers-go (%v)", err, cerr)
	}
	cleanup = append(cleanup, stop)
	return u, nil
}

func embeddedServer(ctx context.Context) (string, error) {
	dir := os.Getenv("FHIR_TEST_DATA_DIR")
	if dir == "" {
		tmp, err := embedded.TempDir("fhirtest-")
		if err != nil {
			return "", err
		}
		dir = tmp
		cleanup = append(cleanup, func() { _ = os.RemoveAll(tmp) })
	}
	c, err := embedded.Start(ctx, dir, "postgres", nil)
	if err != nil {
		return "", fmt.Errorf("embedded cluster (set DATABASE_URL to use a server of your own): %w", err)
	}
	cleanup = append([]func(){func() { _ = c.Stop(context.Background()) }}, cleanup...)
	return c.URL("postgres"), nil
}
