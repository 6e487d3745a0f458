package search

import (
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirserver/fhirserver/profiles"
	"github.com/fhirserver/fhirserver/storage"
)

// A search naming one patient and a code starts from that patient's
// token rows of the code (the compartment, migration 034) and still
// checks the patient's own parameter on them; any other search keeps
// its lead.
func TestAPatientAndACodeLeadByTheCompartment(t *testing.T) {
	reg, err := Load(profiles.ResourceTypes())
	require.NoError(t, err)
	tests := []struct {
		query   string
		lead    string // the lead condition rendered on l, values inlined; "" none
		clauses int
	}{
		{"patient=p1&code=http://loinc.org|1-8", "l.patient = p1 AND l.pid = #code AND l.sid = #http://loinc.org AND l.code = 1-8", 1},
		{"patient=Patient/p1&category=laboratory", "l.patient = p1 AND l.pid = #category AND l.code = laboratory", 1},
		{"subject=Patient/p1&code=1-8", "l.patient = p1 AND l.pid = #code AND l.code = 1-8", 1},
		{"patient=p1&category=laboratory&code=s|1-8", "l.patient = p1 AND l.pid = #code AND l.sid = #s AND l.code = 1-8", 2},
		{"patient=p1&code=|1-8", "l.patient = p1 AND l.pid = #code AND l.sid IS NULL AND l.code = 1-8", 1},
		{"patient=p1&date=ge2020", "l.param = subject AND l.target_id = p1 AND l.target_type = Patient", 1},
		{"patient=p1", "l.param = subject AND l.target_id = p1 AND l.target_type = Patient", 0},
		{"code=s|1-8", "l.pid = #code AND l.sid = #s AND l.code = 1-8", 0},
		{"patient=p1,p2&code=s|1-8", "l.pid = #code AND l.sid = #s AND l.code = 1-8", 1},
		{"patient=p1&code:text=glucose", "l.param = subject AND l.target_id = p1 AND l.target_type = Patient", 1},
		{"patient=p1&code=s|", "l.param = subject AND l.target_id = p1 AND l.target_type = Patient", 1},
		{"subject:Group=g1&code=s|1-8", "l.param = subject AND l.target_id = g1 AND l.target_type = Group", 1},
		{"patient=p_1&code=s|1-8", "l.param = subject AND l.target_id = p_1 AND l.target_type = Patient", 1},
		{"patient.name=smith&code=s|1-8", "l.pid = #code AND l.sid = #s AND l.code = 1-8", 1},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			q, err := url.ParseQuery(tt.query)
			require.NoError(t, err)
			got, err := reg.Parse("Observation", q, Options{})
			require.NoError(t, err)
			assert.Len(t, got.Criteria.Clauses, tt.clauses)
			if tt.lead == "" {
				assert.Nil(t, got.Criteria.Lead)
				return
			}
			require.NotNil(t, got.Criteria.Lead)
			var values []any
			sql := got.Criteria.Lead.Cond(func(v any) string { values = append(values, v); return "?" }, "l")
			for _, v := range values {
				sql = strings.Replace(sql, "?", inlined(v), 1)
			}
			assert.Equal(t, tt.lead, sql)
		})
	}
}

// inlined writes a lead's value for comparison: a token parameter's id
// (storage.ParamID) as #code, a system's (storage.SystemID) as #system.
func inlined(v any) string {
	if id, ok := v.(int64); ok {
		for _, p := range []string{"code", "category"} {
			if id == storage.ParamID("Observation", p) {
				return "#" + p
			}
		}
		for _, s := range []string{"http://loinc.org", "s"} {
			if id == storage.SystemID(s) {
				return "#" + s
			}
		}
	}
	return fmt.Sprint(v)
}

// A name prefix leads by its index's value order (storage.Lead.ByValue),
// read as a byte range a kept plan can use: the range ends at the
// prefix's successor, which no value with the prefix reaches.
func TestANamePrefixLeadsByValue(t *testing.T) {
	reg, err := Load(profiles.ResourceTypes())
	require.NoError(t, err)
	tests := []struct {
		query string
		lead  string
	}{
		{"name=Smi", "l.param = name AND l.value ~>=~ smi AND l.value ~<~ smj AND l.value LIKE smi%"},
		{"family=Ång", "l.param = family AND l.value ~>=~ ang AND l.value ~<~ anh AND l.value LIKE ang%"},
		{"name=a_b", `l.param = name AND l.value ~>=~ a_b AND l.value ~<~ a_c AND l.value LIKE a\_b%`},
		{"name:exact=Smith", ""},
		{"name:contains=mit", ""},
		{"name=smi,joh", ""},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			q, err := url.ParseQuery(tt.query)
			require.NoError(t, err)
			got, err := reg.Parse("Patient", q, Options{})
			require.NoError(t, err)
			if tt.lead == "" {
				assert.Nil(t, got.Criteria.Lead)
				return
			}
			require.NotNil(t, got.Criteria.Lead)
			assert.True(t, got.Criteria.Lead.ByValue)
			assert.True(t, got.Criteria.OffsetPaged())
			var values []any
			sql := got.Criteria.Lead.Cond(func(v any) string { values = append(values, v); return "?" }, "l")
			for _, v := range values {
				sql = strings.Replace(sql, "?", v.(string), 1)
			}
			assert.Equal(t, tt.lead, sql)
		})
	}
	blind := Options{BlindString: func(typ, param, value string, exact bool) (string, bool) { return "blind", param == "name" }}
	got, err := reg.Parse("Patient", url.Values{"name": {"smi"}}, blind)
	require.NoError(t, err)
	assert.Nil(t, got.Criteria.Lead, "a value indexed blind matches whole, never by prefix")
}

func TestSuccessorBoundsEveryValueWithThePrefix(t *testing.T) {
	tests := map[string]string{
		"abc":           "abd",
		"é":             "ê",
		"a\u07ff":       "a\u0800", // two bytes to three
		"a\U0010FFFF":   "b",
		"\ud7ff":        "\ue000",
		"\U0010FFFF":    "",
		"zz\U0010FFFFx": "zz\U0010FFFFy",
	}
	for in, want := range tests {
		got := successor(in)
		assert.Equal(t, want, got, "%q", in)
		if got != "" {
			for _, tail := range []string{"", "a", "\U0010FFFF", "\u07ff\u0800"} {
				assert.Less(t, in+tail, got, "%q", in+tail)
			}
		}
	}
}
