package search

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/fhirserver/fhirserver/outcome"
	"github.com/fhirserver/fhirserver/storage"
)

// fuzzTypes are the types FuzzParse searches: their parameters cover
// every kind (string, token, reference, date, number, quantity, uri,
// composite) and every chain the seeds name.
var fuzzTypes = []string{"Patient", "Observation", "Encounter", "Condition", "MedicationRequest", "Practitioner", "DiagnosticReport", "ValueSet", "RiskAssessment", "Group"}

// FuzzParse feeds the search parser a raw query string on one of a few
// types, as the HTTP layer hands it over (url.ParseQuery's values, what
// it could read of a malformed query). Parse, ParseConditional and
// ScopeClause answer criteria or a client error, never a panic; the
// criteria render to SQL without a database, and what they render is a
// statement PostgreSQL takes: its parentheses balance, every bind value is
// text it stores (no NUL, valid UTF-8) or a timestamp in its range, and
// the binds stay within MaxBinds.
func FuzzParse(f *testing.F) {
	seeds := []struct {
		typ   uint8
		query string
	}{
		{0, "name=smith&birthdate=ge1970-01-01&gender=female&_count=10&_sort=-birthdate,name"},
		{0, "name:exact=Smith&name:contains=mi,th&family:missing=true&_total=accurate&_summary=count"},
		{0, "identifier=http://hl7.org/fhir/sid/us-ssn|123-45-6789&identifier:of-type=http://terminology.hl7.org/CodeSystem/v2-0203|MR|123"},
		{0, "_has:Observation:patient:code=http://loinc.org|1234-5&_has:Observation:subject:_has:Provenance:target:agent=Practitioner/1"},
		{0, "general-practitioner:Practitioner.name=jones&organization.name=acme&general-practitioner.organization.name:contains=x"},
		{0, "_id=a,b,c&_lastUpdated=gt2020-01-01T00:00:00Z&_lastUpdated=lt2030&_elements=name,birthDate"},
		{0, "_revinclude=Observation:patient&_revinclude:iterate=Provenance:target&_include=Patient:general-practitioner:Practitioner"},
		{0, "_cursor=abc&_before=x&_snapshot=12&_offset=50&_format=json&_pretty=true"},
		{0, "name=a%5C,b&name=a%5C%7Cb&telecom=phone|555%5C,1212&address-postalcode:missing=false"},
		{1, "code=http://loinc.org|8867-4,|1234&value-quantity=lt60|http://unitsofmeasure.org|mm[Hg]&date=ap2020-02"},
		{1, "code-value-quantity=http://loinc.org|8480-6$gt100&combo-code-value-quantity=8480-6$lt60|http://unitsofmeasure.org|mm[Hg]"},
		{1, "component-code-value-quantity=http://loinc.org|8462-4$ge90&code-value-date=1234$eb2020-01-01T10:00:00+02:00"},
		{1, "subject:Patient=123&patient=Patient/1&patient=http://example.org/fhir/Patient/1/_history/2&subject:identifier=urn:mrn|4"},
		{1, "patient.name=smith&subject:Patient.birthdate=lt2000&performer:Practitioner.identifier=x|y&category=laboratory&status:not=final"},
		{1, "code:text=blood%20pressure&_sort=date,-_lastUpdated,_id&_count=1000000&_include=*&_include=Observation:*"},
		{1, "value-quantity=ne1.50e-3&value-quantity=sa5.4|http://unitsofmeasure.org|mg&value-quantity=ap100&date=ne2020-13-01"},
		{2, "date=eb2020-01-01&date=sa2019&subject.name=x&type=a|b|c&_tag=http://x|y&_profile=http://hl7.org/fhir/us/core/StructureDefinition/us-core-encounter"},
		{3, "onset-date=le2020-02-29&clinical-status=active,recurrence&code:below=x&_security:not=R"},
		{4, "medication.code=1234&intent=order&requester:Practitioner.given=a&_revinclude=Provenance:target:Patient"},
		{5, "_has:PractitionerRole:practitioner:organization.name=acme&name=ab&_sort=name,name,name"},
		{6, "result.value-quantity=gt5&result:Observation.code-value-quantity=x$1&based-on:ServiceRequest.code=1"},
		{7, "url:below=http://hl7.org/fhir&url:above=http://hl7.org/fhir/ValueSet/x&version=1&reference=http://x"},
		{8, "probability=gt0.5&probability=le1e1000&probability=1e-1000&probability=0." + strings.Repeat("0", 97) + "1"},
		{9, "member=Patient/1&characteristic-value=x$true&_summary=text&_contained=true&_containedType=contained"},
		{0, "name=%00&_count=-1"}, {0, "na%00me=x"}, {0, "name=%FF%FE"}, {0, "_count=99999999999999999999"},
		{0, "name=a;b"}, {0, "%zz=1&name=ok"}, {0, "_sort=" + strings.Repeat("name,", 100)},
		{0, "_sort=" + strings.Repeat("name,", 1200) + "name"}, {0, "identifier=%00"}, {1, "code=a|%FF"},
		{0, "_has:Observation:patient:_has:Observation:patient:_has:Observation:patient:_has:Observation:patient:code=1"},
		{1, "subject.organization.partof.partof.name=x"}, {0, "_include:foo=Patient:organization&_revinclude=*"},
		{1, "value-quantity=1e1001&value-quantity=" + strings.Repeat("9", 101)}, {1, "date=0000&date=9999-12-31T23:59:59.999999999Z"},
	}
	for _, s := range seeds {
		f.Add(s.typ, s.query)
	}
	r, err := R4()
	if err != nil {
		f.Fatal(err)
	}
	blind := func(typ, param, system, code string) string { return "blind:" + code }
	blindString := func(typ, param, value string, exact bool) (string, bool) {
		return "blind:" + value, param == "family" || param == "address-city"
	}
	f.Fuzz(func(t *testing.T, which uint8, query string) {
		typ := fuzzTypes[int(which)%len(fuzzTypes)]
		q, _ := url.ParseQuery(query) // the HTTP layer reads what it can
		o := Options{Strict: which&0x80 != 0, BaseURL: "http://example.org/fhir"}
		if which&0x40 != 0 {
			o.Blind, o.BlindString = blind, blindString
		}
		parsed, err := r.Parse(typ, q, o)
		if clientError(t, query, err) {
			if parsed.Count < 0 || parsed.Count > MaxCount {
				t.Fatalf("%q: _count %d", trim(query), parsed.Count)
			}
			if len(parsed.Includes) > MaxIncludes {
				t.Fatalf("%q: %d includes", trim(query), len(parsed.Includes))
			}
			renderable(t, query, parsed.Criteria)
		}
		crit, err := r.ParseConditional(typ, query, o.BaseURL, o.Blind)
		if clientError(t, query, err) {
			renderable(t, query, crit)
		}
		cl, err := r.ScopeClause(typ, query)
		if clientError(t, query, err) {
			renderable(t, query, storage.Criteria{Type: typ, Clauses: []storage.KeyClause{cl}})
		}
	})
}

// clientError fails unless err is nil or an *outcome.Error a client is
// answered with (4xx); it reports whether err is nil.
func clientError(t *testing.T, query string, err error) bool {
	t.Helper()
	if err == nil {
		return true
	}
	var oe *outcome.Error
	if !errors.As(err, &oe) {
		t.Fatalf("%q: %T %v is not an *outcome.Error", trim(query), err, err)
	}
	if s := oe.Kind.Status(); s < 400 || s >= 500 {
		t.Fatalf("%q: status %d: %v", trim(query), s, err)
	}
	return false
}

// renderable renders c as storage does (each clause on the version row
// and on a lead's index row, the filters, the lead, the sort keys) and
// checks that PostgreSQL could run it.
func renderable(t *testing.T, query string, c storage.Criteria) {
	t.Helper()
	var binds []any
	arg := func(v any) string {
		binds = append(binds, v)
		return "$1"
	}
	var parts []string
	for _, cl := range c.Clauses {
		parts = append(parts, cl(arg, "v"), cl(arg, "l"))
	}
	for _, fl := range c.Filters {
		parts = append(parts, fl(arg))
	}
	if c.Lead != nil {
		parts = append(parts, c.Lead.Cond(arg, "l"))
	}
	for _, s := range c.Sort {
		parts = append(parts, s.Expr(arg))
	}
	// The clauses are rendered twice above (for v and for l).
	if once := len(binds) - countClauseBinds(c); once > MaxBinds {
		t.Fatalf("%q: %d bind values (at most %d)", trim(query), once, MaxBinds)
	}
	for _, sql := range parts {
		if !balanced(sql) {
			t.Fatalf("%q: unbalanced SQL %q", trim(query), sql)
		}
		if !WellFormed(sql) {
			t.Fatalf("%q: SQL text holds NUL or invalid UTF-8: %q", trim(query), sql)
		}
	}
	for _, b := range binds {
		if !storable(b) {
			t.Fatalf("%q: bind value %#v is one PostgreSQL refuses", trim(query), b)
		}
	}
}

// countClauseBinds is the bind values one rendering of the clauses takes.
func countClauseBinds(c storage.Criteria) int {
	n := 0
	count := func(any) string { n++; return "$1" }
	for _, cl := range c.Clauses {
		cl(count, "v")
	}
	return n
}

// balanced checks the parentheses of SQL text outside its '...' literals.
func balanced(sql string) bool {
	depth, quoted := 0, false
	for i := 0; i < len(sql); i++ {
		switch c := sql[i]; {
		case c == '\'':
			quoted = !quoted
		case quoted:
		case c == '(':
			depth++
		case c == ')':
			depth--
			if depth < 0 {
				return false
			}
		}
	}
	return depth == 0 && !quoted
}

// PostgreSQL's timestamptz spans 4713 BC to 294276 AD.
var (
	pgMinTime = time.Date(-4712, 1, 1, 0, 0, 0, 0, time.UTC)
	pgMaxTime = time.Date(294276, 12, 31, 23, 59, 59, 0, time.UTC)
)

func storable(v any) bool {
	switch x := v.(type) {
	case string:
		return WellFormed(x)
	case []string:
		for _, s := range x {
			if !WellFormed(s) {
				return false
			}
		}
		return true
	case time.Time:
		return !x.Before(pgMinTime) && !x.After(pgMaxTime)
	case int, int64, bool:
		return true
	}
	return false
}

// trim keeps a failure's message readable: the input is in testdata.
func trim(s string) string {
	if len(s) > 200 {
		return s[:200] + "..."
	}
	return s
}
