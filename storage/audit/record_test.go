package audit_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirserver/fhirserver/storage"
	"github.com/fhirserver/fhirserver/storage/audit"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

const ssnSystem = "http://hl7.org/fhir/sid/us-ssn"

// blinder stands for the store's blind index: SSNs and the address-line
// string parameter are indexed blind, everything else in clear.
var blinder = audit.Blinder{
	Token: func(typ, param, system, code string) string {
		if system == ssnSystem {
			return "blind:" + hashed(strings.ReplaceAll(code, "-", ""))
		}
		return code
	},
	String: func(typ, param, value string, exact bool) (string, bool) {
		if typ == "Patient" && param == "address" {
			return "blind:" + hashed(strings.ToLower(value)), true
		}
		return "", false
	},
	Identifier: ssnSystem,
}

func hashed(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:6])
}

var at = time.Date(2026, 3, 4, 5, 6, 7, 890000000, time.UTC)

// The AuditEvent a Record renders is pinned: the chains hold these bytes,
// and auditors' searches read them.
func TestRecordGolden(t *testing.T) {
	records := map[string]audit.Record{
		"read": {
			ID: "00000000-0000-4000-8000-000000000001", Recorded: at, Server: "https://ehr.example",
			Interaction: "read", Status: 200,
			Client: audit.Client{ID: "app", Address: "192.0.2.7", UserAgent: "curl/8"},
			User:   "dr.house", FHIRUser: "Practitioner/p1",
			Touched: []storage.Key{{Type: "Patient", ID: "p1"}},
			Blind:   blinder,
		},
		"search-ssn": {
			ID: "00000000-0000-4000-8000-000000000002", Recorded: at, Server: "https://ehr.example",
			Interaction: "search-type", Status: 200,
			Client:  audit.Client{ID: "backend", Address: "192.0.2.8", UserAgent: "bot\x00\xff"},
			Touched: []storage.Key{{Type: "Patient", ID: "p1"}, {Type: "Patient", ID: "p2"}},
			Search: &audit.Search{Type: "Patient",
				Query: "identifier=111-22-3333&identifier=urn:mrn|123-45-6789,|222334444&address=Main+St&family=Smith"},
			Blind: blinder,
		},
		"break-glass": {
			ID: "00000000-0000-4000-8000-000000000003", Recorded: at, Server: "https://ehr.example",
			Interaction: "operation", Status: 403,
			Client:     audit.Client{ID: "app", Address: "192.0.2.7"},
			User:       "dr.house",
			BreakGlass: true,
			Touched:    []storage.Key{{Type: "Patient", ID: "p9"}},
			Blind:      blinder,
		},
		"unauthenticated": {
			ID: "00000000-0000-4000-8000-000000000004", Recorded: at, Server: "https://ehr.example",
			Interaction: "delete", Status: 500,
			Client: audit.Client{Address: "198.51.100.1"},
		},
	}
	for name, r := range records {
		t.Run(name, func(t *testing.T) {
			got, err := r.JSON()
			require.NoError(t, err)
			var pretty bytes.Buffer
			require.NoError(t, json.Indent(&pretty, got, "", "  "))
			pretty.WriteByte('\n')
			path := filepath.Join("testdata", name+".golden.json")
			if *update {
				require.NoError(t, os.MkdirAll("testdata", 0o755))
				require.NoError(t, os.WriteFile(path, pretty.Bytes(), 0o644))
			}
			want, err := os.ReadFile(path)
			require.NoError(t, err)
			assert.Equal(t, string(want), pretty.String())
		})
	}
}

// A search's query never holds a value the database keeps only
// encrypted: an SSN, whatever parameter or system it came under, and a
// blind string parameter.
func TestRecordKeepsEncryptedValuesOut(t *testing.T) {
	r := audit.Record{Interaction: "search-type", Status: 200, Blind: blinder,
		Search: &audit.Search{Type: "Observation", Query: "subject:Patient.identifier=" + ssnSystem + "|111-22-3333&patient.identifier=111223333&code=1234-5"}}
	body, err := r.JSON()
	require.NoError(t, err)
	var ev struct {
		Entity []struct{ Query string }
	}
	require.NoError(t, json.Unmarshal(body, &ev))
	require.Len(t, ev.Entity, 1)
	q, err := base64.StdEncoding.DecodeString(ev.Entity[0].Query)
	require.NoError(t, err)
	assert.NotContains(t, string(q), "111-22-3333")
	assert.NotContains(t, string(q), "111223333")
	assert.Contains(t, string(q), "1234-5", "a value that is not an SSN stays")

	// A blind index that cannot blind an SSN: it is withheld, not kept.
	r.Blind = audit.Blinder{Token: func(_, _, _, code string) string { return code }, Identifier: ssnSystem}
	body, err = r.JSON()
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(body, &ev))
	q, _ = base64.StdEncoding.DecodeString(ev.Entity[0].Query)
	assert.NotContains(t, string(q), "111-22-3333")
	assert.NotContains(t, string(q), "111223333")
	assert.Contains(t, string(q), "withheld")
}

// The action follows from the interaction, the outcome from the status.
func TestActionAndOutcome(t *testing.T) {
	for interaction, want := range map[string]string{"read": "R", "vread": "R", "history": "R", "create": "C", "update": "U",
		"patch": "U", "delete": "D", "search-type": "E", "transaction": "E", "operation": "E", "head": "E"} {
		assert.Equal(t, want, audit.Action(interaction), interaction)
	}
	assert.Equal(t, "0", audit.Outcome(201))
	assert.Equal(t, "4", audit.Outcome(404))
	assert.Equal(t, "8", audit.Outcome(503))
}

// An operation's declared action stands in for the interaction's, and a
// refusal's record says why, as the client was told.
func TestRecordTakesTheOperationsActionAndTheRefusalsReason(t *testing.T) {
	for _, tc := range []struct {
		rec              audit.Record
		action, outcomeD string
	}{
		{audit.Record{Interaction: "operation", Status: 200}, "E", ""},
		{audit.Record{Interaction: "operation", Action: "C", Status: 201}, "C", ""},
		{audit.Record{Interaction: "read", Status: 403, Reason: "the user's role (clerk) does not permit read on Observation"}, "R",
			"Forbidden: the user's role (clerk) does not permit read on Observation"},
		{audit.Record{Interaction: "read", Status: 200, Reason: "ignored on success"}, "R", ""},
	} {
		b, err := tc.rec.JSON()
		require.NoError(t, err)
		var ev struct{ Action, OutcomeDesc string }
		require.NoError(t, json.Unmarshal(b, &ev))
		assert.Equal(t, tc.action, ev.Action)
		assert.Equal(t, tc.outcomeD, ev.OutcomeDesc)
	}
}
