package profiles

import (
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirserver/fhirserver/outcome"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

// goldenOutcome is what a client would get for a body: the status and the
// issues of the OperationOutcome.
type goldenOutcome struct {
	Status int           `json:"status"`
	Issue  []goldenIssue `json:"issue"`
}

type goldenIssue struct {
	Severity    string   `json:"severity"`
	Code        string   `json:"code"`
	Diagnostics string   `json:"diagnostics"`
	Expression  []string `json:"expression"`
}

// Each invalid resource under testdata/invalid gets exactly the outcome in
// its .outcome.json: every issue, with its severity, code and FHIRPath.
// go test ./profiles -run TestInvalidResources -update rewrites them.
func TestInvalidResources(t *testing.T) {
	files, err := filepath.Glob("testdata/invalid/*.json")
	require.NoError(t, err)
	for _, f := range files {
		if strings.HasSuffix(f, ".outcome.json") {
			continue
		}
		name := strings.TrimSuffix(filepath.Base(f), ".json")
		t.Run(name, func(t *testing.T) {
			body, err := os.ReadFile(f)
			require.NoError(t, err)
			_, err = Parse(body)
			var oe *outcome.Error
			require.True(t, errors.As(err, &oe), "the resource was accepted")
			out := goldenOutcome{Status: oe.Kind.Status()}
			for _, is := range oe.Issues {
				sev := is.Severity
				if sev == "" {
					sev = "error"
				}
				out.Issue = append(out.Issue, goldenIssue{sev, is.Code, is.Diagnostics, is.Expression})
			}
			got, err := json.MarshalIndent(out, "", "  ")
			require.NoError(t, err)
			golden := strings.TrimSuffix(f, ".json") + ".outcome.json"
			if *update {
				require.NoError(t, os.WriteFile(golden, append(got, '\n'), 0o644))
			}
			want, err := os.ReadFile(golden)
			require.NoError(t, err)
			assert.JSONEq(t, string(want), string(got))
		})
	}
}
