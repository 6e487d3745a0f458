package fhirserver_test

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirserver/fhirserver/storage"
)

// repeat is name=value n times, joined by &.
func repeat(name, value string, n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = name + "=" + url.QueryEscape(value)
	}
	return strings.Join(parts, "&")
}

// A search that would cost the database seconds or minutes (the probe's
// repeated parameters, a chain over every resource type) is refused before
// it runs, with a 400 naming the limit it passed.
func TestSearchLimits(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	manyValues := strings.Repeat("a,", 150) + "a"
	tests := []struct {
		name, path, expression, limit string
	}{
		{"repeated parameter", "/Patient?" + repeat("name", "a", 150), "name", "parameters"},
		{"repeated _has", "/Patient?" + repeat("_has:Observation:patient:code", "1", 150), "_has:Observation:patient:code", "parameters"},
		{"many parameters", "/Patient?" + repeat("name", "a", 20) + "&" + repeat("family", "a", 20), "name", "parameters"},
		{"many values", "/Patient?name=" + manyValues, "name", "values"},
		{"values over parameters", "/Patient?" + repeat("name", strings.Repeat("a,", 9)+"a", 11), "name", "values"},
		{"chain over every type", "/Basic?subject.subject.identifier=0", "subject.subject.identifier", "resource types"},
		{"chain over every type, once", "/Provenance?target.identifier=0", "target.identifier", "resource types"},
		{"reverse chain over every type", "/Patient?_has:Provenance:target:target.identifier=0", "_has:Provenance:target:target.identifier", "resource types"},
		{"deep chain", "/Observation?subject:Patient.organization.partof.partof.name=x", "subject:Patient.organization.partof.partof.name", "links"},
		{"deep _has", "/Patient?_has:Observation:patient:_has:Observation:has-member:_has:Observation:has-member:_has:Observation:has-member:code=1",
			"_has:Observation:patient:_has:Observation:has-member:_has:Observation:has-member:_has:Observation:has-member:code", "links"},
		{"many includes", "/Observation?" + repeat("_include", "Observation:subject", 11), "_include", "_include"},
		{"many includes of both kinds", "/Patient?" + repeat("_include", "Patient:organization", 6) + "&" + repeat("_revinclude", "Observation:subject", 6), "_include", "_include"},
		{"bind values", "/Observation?part-of.performer.identifier=" + strings.Repeat("a|b,", 19) + "a|b", "", "bind values"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := ts.do("GET", tc.path, "", "")
			assertOutcome(t, r, 400, "too-costly", tc.expression)
			assert.Contains(t, string(r.Body), tc.limit)
		})
	}
	// The limits leave ordinary searches alone.
	for _, path := range []string{
		"/Patient?" + repeat("name", "a", 10),
		"/Observation?subject.name=a&performer.name=b&_include=Observation:subject&_revinclude=Provenance:target",
		"/Observation?subject:Patient.organization.partof.name=x",
		"/Patient?_id=" + strings.Repeat("a,", 99) + "a",
	} {
		ts.searchBundle(path)
	}
}

// Numbers and offsets out of the database's range are a client's mistake.
func TestSearchOutOfRange(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	tests := []struct{ name, path, expression string }{
		{"huge quantity", "/Observation?value-quantity=1e200000", "value-quantity"},
		{"tiny quantity", "/Observation?value-quantity=1e-200000", "value-quantity"},
		{"huge number", "/RiskAssessment?probability=gt1e200000", "probability"},
		{"tiny number", "/RiskAssessment?probability=1e-200000", "probability"},
		{"long number", "/RiskAssessment?probability=0." + strings.Repeat("1", 20000), "probability"},
		{"huge composite", "/Observation?code-value-quantity=http://loinc.org|8480-6$gt1e200000", "code-value-quantity"},
		{"huge offset", "/Patient?_sort=_id&_offset=9223372036854775807", "_offset"},
		{"offset past the limit", "/Patient?_sort=_id&_offset=1000001", "_offset"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assertOutcome(t, ts.do("GET", tc.path, "", ""), 400, "invalid", tc.expression)
		})
	}
	ts.searchBundle("/Observation?value-quantity=1e300")
	ts.searchBundle("/Patient?_sort=_id&_offset=1000000")
}

// A search that runs past the statement timeout answers an
// OperationOutcome (too-costly) rather than a 500, and is audited.
func TestStatementTimeout(t *testing.T) {
	t.Parallel()
	ts := newServerStore(t, storage.Options{StatementTimeout: 200 * time.Millisecond})
	ts.put("Patient", "p", `{"resourceType":"Patient","name":[{"family":"Smith"}]}`)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, ts.owner)
	require.NoError(t, err)
	defer conn.Close(ctx)
	// A lock held elsewhere makes any search of names slow, as a costly
	// plan would, without depending on the machine's speed.
	tx, err := conn.Begin(ctx)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, `LOCK TABLE search_string IN ACCESS EXCLUSIVE MODE`)
	require.NoError(t, err)
	before := len(auditEvents(t, ts))
	r := ts.do("GET", "/Patient?name=smith", "", "")
	require.NoError(t, tx.Rollback(ctx))
	assertOutcome(t, r, 503, "too-costly", "")
	events := auditEvents(t, ts)[before:]
	require.Len(t, events, 1)
	assert.Equal(t, "8", summarize(events[0]).Outcome)
	assert.Equal(t, []string{"p"}, ts.ids("/Patient?name=smith"), "the lock gone, the same search answers")
	// Writes keep the longer budget of their own transactions.
	ts.put("Patient", "q", `{"resourceType":"Patient","name":[{"family":"Jones"}]}`)
}

// NUL bytes and invalid UTF-8 in ids, search values, parameter names and
// paging cursors are refused with a 400, and the attempt is audited.
func TestMalformedText(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	ts.put("Patient", "p", `{"resourceType":"Patient","name":[{"family":"Smith"}]}`)
	form := "application/x-www-form-urlencoded"
	tests := []struct{ name, method, path, contentType, body string }{
		{"NUL id", "GET", "/Patient/%00", "", ""},
		{"invalid UTF-8 id", "GET", "/Patient/%FF", "", ""},
		{"NUL in id", "GET", "/Patient/p%00q", "", ""},
		{"NUL vread", "GET", "/Patient/p/_history/%00", "", ""},
		{"NUL history", "GET", "/Patient/%00/_history", "", ""},
		{"NUL update", "PUT", "/Patient/%00", fhirJSON, `{"resourceType":"Patient"}`},
		{"NUL delete", "DELETE", "/Patient/%C0", "", ""},
		{"NUL compartment", "GET", "/Patient/%00/Observation", "", ""},
		{"NUL search value", "GET", "/Patient?name=%00", "", ""},
		{"invalid UTF-8 search value", "GET", "/Patient?name=%FF%FE", "", ""},
		{"NUL token", "GET", "/Patient?identifier=a|%00", "", ""},
		{"NUL parameter name", "GET", "/Patient?na%00me=x", "", ""},
		{"NUL cursor", "GET", "/Patient?_cursor=%00", "", ""},
		{"invalid UTF-8 previous page", "GET", "/Patient?_before=%FF", "", ""},
		{"NUL history since", "GET", "/Patient/_history?_since=%00", "", ""},
		{"NUL posted search", "POST", "/Patient/_search", form, "name=%00"},
		{"invalid UTF-8 posted search", "POST", "/Patient/_search", form, "name=%FF"},
		{"NUL conditional delete", "DELETE", "/Patient?identifier=%00", "", ""},
		{"NUL operation", "POST", "/Patient/%00/$break-glass", fhirJSON, `{"resourceType":"Parameters"}`},
		{"NUL everything", "GET", "/Patient/%00/$everything", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := len(auditEvents(t, ts))
			assertOutcome(t, ts.do(tc.method, tc.path, tc.contentType, tc.body), 400, "invalid", "")
			events := auditEvents(t, ts)[before:]
			require.Len(t, events, 1, "the attempt is audited")
			assert.Equal(t, "4", summarize(events[0]).Outcome)
		})
	}
	r := ts.do("POST", "", fhirJSON, `{"resourceType":"Bundle","type":"batch","entry":[{"request":{"method":"GET","url":"Patient/%00"}}]}`)
	assertOutcome(t, r, 400, "invalid", "")
}

// An identifier searched without its system may be an SSN: the audit
// record keeps it by its blind form, as it keeps one searched with it.
func TestAuditKeepsNoClearSSN(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	for _, q := range []string{
		"identifier=123-45-6789", "identifier=123456789", "identifier=|123-45-6789", "identifier=urn:mrn|M1,123-45-6789",
		"subject:Patient.identifier=123-45-6789", "identifier:of-type=http://terminology.hl7.org/CodeSystem/v2-0203|SS|123-45-6789",
	} {
		t.Run(q, func(t *testing.T) {
			typ := "Patient"
			if strings.HasPrefix(q, "subject") {
				typ = "Observation"
			}
			before := len(auditEvents(t, ts))
			ts.searchBundle("/" + typ + "?" + q + "&name=Smith")
			events := auditEvents(t, ts)[before:]
			require.Len(t, events, 1)
			query := summarize(events[0]).Query
			assert.NotContains(t, query, "6789")
			if typ == "Patient" {
				assert.Contains(t, query, "name=Smith", "other values stay legible")
			}
		})
	}
	before := len(auditEvents(t, ts))
	ts.searchBundle("/Patient?identifier=urn:mrn|123456789")
	assert.Contains(t, summarize(auditEvents(t, ts)[before]).Query, "123456789", "a value under another system is no SSN")
}
