package embedded

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// ErrBinariesMissing is returned when initdb, pg_ctl or postgres cannot be found.
var ErrBinariesMissing = errors.New("PostgreSQL server binaries (initdb, pg_ctl, postgres) not found")

var needed = []string{"initdb", "pg_ctl", "postgres"}

// findBinaries returns the directory holding the PostgreSQL server binaries:
// $FHIR_PG_BIN, else the directory of initdb on PATH, else the newest
// /usr/lib/postgresql/*/bin. An existing cluster's major version wins over
// "newest" so that a data dir keeps working after a newer server is installed.
func findBinaries(wantMajor string) (string, error) {
	if dir := os.Getenv("FHIR_PG_BIN"); dir != "" {
		if hasAll(dir) {
			return dir, nil
		}
		return "", fmt.Errorf("%w in FHIR_PG_BIN=%s: %s", ErrBinariesMissing, dir, installHint)
	}
	versioned, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(versioned, func(i, j int) bool { return major(versioned[i]) > major(versioned[j]) })
	if wantMajor != "" {
		for _, dir := range versioned {
			if filepath.Base(filepath.Dir(dir)) == wantMajor && hasAll(dir) {
				return dir, nil
			}
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil && hasAll(filepath.Dir(p)) {
		return filepath.Dir(p), nil
	}
	for _, dir := range versioned {
		if hasAll(dir) {
			return dir, nil
		}
	}
	return "", fmt.Errorf("%w on PATH or under /usr/lib/postgresql/*/bin: %s", ErrBinariesMissing, installHint)
}

const installHint = "install them (Debian/Ubuntu: apt-get install postgresql; macOS: brew install postgresql) " +
	"or set FHIR_PG_BIN to their directory, or give --database-url"

func hasAll(dir string) bool {
	for _, name := range needed {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			return false
		}
	}
	return true
}

func major(binDir string) int {
	v := filepath.Base(filepath.Dir(binDir))
	n, _ := strconv.Atoi(strings.SplitN(v, ".", 2)[0])
	return n
}
