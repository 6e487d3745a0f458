package storagetest

import (
	"context"
	"fmt"
	"os"

	"github.com/fhirserver/fhirserver/storage/embedded"
)

// server finds the PostgreSQL server for this test process: DATABASE_URL,
// else the embedded cluster in FHIR_TEST_DATA_DIR (which `make test` shares
// between the test processes of one run), else one in a private temp dir.
func server(ctx context.Context) (string, error) {
	if u := os.Getenv("DATABASE_URL"); u != "" {
		return u, nil
	}
	dir := os.Getenv("FHIR_TEST_DATA_DIR")
	if dir == "" {
		tmp, err := os.MkdirTemp("", "fhirtest-")
		if err != nil {
			return "", err
		}
		// The cluster may run as the postgres user, who must reach the dir.
		if err := os.Chmod(tmp, 0o755); err != nil {
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
