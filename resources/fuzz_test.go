package resources

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/fhirserver/fhirserver/outcome"
	"github.com/fhirserver/fhirserver/profiles"
	"github.com/fhirserver/fhirserver/resources/access"
	"github.com/fhirserver/fhirserver/search"
	"github.com/fhirserver/fhirserver/storage"
)

const fuzzBase = "http://example.org/fhir"

// FuzzBundle feeds POST [base] arbitrary bodies, as far as they go without
// a database: validation, the Bundle's kind and entries, the targets of
// their request.url, If-Match, the conditional criteria of entries and of
// conditional references (ifNoneExist, PUT and DELETE Type?criteria,
// "reference": "Type?criteria"), a PATCH entry's Binary, the access check,
// the order of the writes and the response Bundle. None panics; every
// refusal is a client error; an entry let through names a resource type, a
// valid id and a method the server runs. The seeds in
// testdata/fuzz/FuzzBundle are the shared fixtures' two small US Core
// transaction Bundles; those below are every kind of entry.
func FuzzBundle(f *testing.F) {
	entry := func(method, url, rest string) string {
		return `{` + rest + `"request":{"method":"` + method + `","url":"` + url + `"}}`
	}
	bundle := func(kind string, entries ...string) string {
		return `{"resourceType":"Bundle","type":"` + kind + `","entry":[` + strings.Join(entries, ",") + `]}`
	}
	patient := `"fullUrl":"urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a","resource":{"resourceType":"Patient","managingOrganization":{"reference":"Organization?identifier=http://x|1"}},`
	for _, s := range []string{
		bundle("transaction", entry("POST", "Patient", patient),
			entry("POST", "Observation", `"resource":{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a"}},`)),
		bundle("batch", entry("GET", "Patient/1", ""), entry("HEAD", "Patient/1/_history/2", ""), entry("GET", "Patient?name=x", ""),
			entry("DELETE", "Patient/2", ""), entry("DELETE", "Patient?identifier=a|b", "")),
		bundle("transaction", `{"resource":{"resourceType":"Patient","id":"p"},"request":{"method":"PUT","url":"Patient/p","ifMatch":"W/\"3\""}}`,
			`{"resource":{"resourceType":"Patient"},"request":{"method":"POST","url":"Patient","ifNoneExist":"identifier=http://x|1"}}`,
			entry("PUT", "Patient?identifier=http://x|2", `"resource":{"resourceType":"Patient"},`)),
		bundle("batch", entry("PATCH", "Patient/p", `"resource":{"resourceType":"Binary","contentType":"application/json-patch+json","data":"W3sib3AiOiJyZXBsYWNlIiwicGF0aCI6Ii9hY3RpdmUiLCJ2YWx1ZSI6dHJ1ZX1d"},`)),
		bundle("batch", entry("PATCH", "Patient/p", `"resource":{"resourceType":"Binary","contentType":"application/json-patch+json","data":"bm90IGEgcGF0Y2g="},`)),
		bundle("transaction", entry("POST", fuzzBase+"/Patient", `"resource":{"resourceType":"Patient"},`), entry("PUT", "Patient/p", `"resource":{"resourceType":"Patient","id":"p"},`),
			entry("DELETE", "Patient/p", "")),
		bundle("batch", entry("GET", "/Patient/1", ""), entry("GET", "http://other/fhir/Patient/1", ""), entry("GET", "Patient/a/b", ""),
			entry("GET", "Patient/%00", ""), entry("GET", "Patient?%zz", ""), entry("GET", "Nope/1", ""), entry("GET", "Patient/"+strings.Repeat("a", 65), "")),
		bundle("batch", entry("OPTIONS", "Patient", "")), bundle("batch", entry("POST", "Patient/1", `"resource":{"resourceType":"Patient"},`)),
		bundle("batch", entry("PUT", "Patient", `"resource":{"resourceType":"Patient"},`)), bundle("batch", entry("POST", "Patient", `"resource":{"resourceType":"Observation","status":"final","code":{"text":"x"}},`)),
		bundle("batch", entry("DELETE", "Patient", "")), bundle("batch", entry("PATCH", "Patient", "")), bundle("batch", entry("PATCH", "Patient/p", `"resource":{"resourceType":"Patient"},`)),
		bundle("transaction", entry("POST", "Patient", `"resource":{"resourceType":"Patient","link":[{"type":"seealso","other":{"reference":"Patient?name=%00"}}]},`)),
		bundle("transaction", entry("PUT", "Patient?_sort=name&_count=x", `"resource":{"resourceType":"Patient"},`), entry("DELETE", "Patient?_has:Observation:patient:code=1", "")),
		bundle("history"), bundle("transaction"), bundle("batch", `{}`), bundle("batch", `{"request":{}}`), bundle("batch", `null`),
		`{"resourceType":"Bundle","type":"batch","entry":{"request":{"method":"GET","url":"Patient/1"}}}`,
		`{"resourceType":"Bundle","type":"batch","entry":[{"resource":{},"request":{"method":"POST","url":"Patient"}}]}`,
		`{"resourceType":"Bundle","type":"batch","entry":[{"resource":{"resourceType":1},"request":{"method":"POST","url":"Patient"}}]}`,
		`{"resourceType":"Patient"}`, `{"resourceType":"Bundle"}`, `[]`, ``,
	} {
		f.Add([]byte(s))
	}
	s := New(nil, nil)
	c := access.System("fuzz")
	f.Fuzz(func(t *testing.T, body []byte) {
		res, err := s.parse(body)
		if !clientError(t, body, err) {
			return
		}
		kind, entries, err := parseBundle(res, fuzzBase)
		if !clientError(t, body, err) {
			return
		}
		if kind != "transaction" && kind != "batch" {
			t.Fatalf("%q: kind %q", body, kind)
		}
		for _, e := range entries {
			e.err = allowEntry(c, e)
			if e.err == nil {
				e.err = s.entryCriteria(e)
			}
			if e.err == nil && e.method == http.MethodPatch {
				_, e.err = e.patchDocument()
			}
			clientError(t, body, e.err)
			let(t, body, e)
			_ = e.interaction()
		}
		if len(sortedByPhase(entries)) != len(entries) {
			t.Fatalf("%q: entries lost in ordering", body)
		}
		out, err := responseBundle(kind+"-response", entries, Options{BaseURL: fuzzBase, Return: ReturnOutcome})
		if err != nil || !json.Valid(out) {
			t.Fatalf("%q: response bundle %q: %v", body, out, err)
		}
	})
}

// entryCriteria parses what an entry would search for while it is
// applied: its conditional criteria and its conditional references.
func (s *Service) entryCriteria(e *txEntry) error {
	for _, q := range []string{e.target.Query, e.ifNone} {
		if q == "" {
			continue
		}
		if _, err := s.search.ParseConditional(e.target.Type, q, "", nil); err != nil {
			return err
		}
	}
	if e.res == nil || (e.method != http.MethodPost && e.method != http.MethodPut) {
		return nil
	}
	var err error
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, val := range x {
				if ref, ok := val.(string); ok && k == "reference" && err == nil {
					// as rewriter.reference reads it
					if typ, query, conditional := strings.Cut(ref, "?"); conditional && !strings.Contains(typ, "/") && profiles.IsResourceType(typ) {
						_, err = s.search.ParseConditional(typ, query, "", nil)
					}
				}
				walk(val)
			}
		case []any:
			for _, item := range x {
				walk(item)
			}
		}
	}
	walk(e.res.Object)
	return err
}

// let checks what an entry that passed parsing asks for.
func let(t *testing.T, body []byte, e *txEntry) {
	t.Helper()
	if !profiles.IsResourceType(e.target.Type) || e.target.ID != "" && !ValidID(e.target.ID) {
		t.Fatalf("%q: entry %d targets %q/%q", body, e.index, e.target.Type, e.target.ID)
	}
	switch e.method {
	case http.MethodPost, http.MethodPut:
		if e.res == nil || e.res.Type != e.target.Type {
			t.Fatalf("%q: entry %d: %s without a %s", body, e.index, e.method, e.target.Type)
		}
	case http.MethodPatch:
		if e.res == nil || e.res.Type != "Binary" {
			t.Fatalf("%q: entry %d: PATCH without a Binary", body, e.index)
		}
	case http.MethodDelete, http.MethodGet, http.MethodHead:
	default:
		t.Fatalf("%q: entry %d: method %q", body, e.index, e.method)
	}
	if e.ifMatch < 0 {
		t.Fatalf("%q: entry %d: If-Match %d", body, e.index, e.ifMatch)
	}
}

// clientError fails unless err is nil or an *outcome.Error a client is
// answered with (4xx); it reports whether err is nil.
func clientError[T string | []byte](t *testing.T, input T, err error) bool {
	t.Helper()
	if err == nil {
		return true
	}
	var oe *outcome.Error
	if !errors.As(err, &oe) {
		t.Fatalf("%q: %T %v is not an *outcome.Error", input, err, err)
	}
	if s := oe.Kind.Status(); s < 400 || s >= 500 {
		t.Fatalf("%q: status %d: %v", input, s, err)
	}
	return false
}

// FuzzCursor feeds the readers of paging positions arbitrary queries: a
// search's _cursor, _before, _offset and _snapshot (after the search's own
// parameters, as Search reads them), a history's _cursor, _since and
// _count, $everything's [x:]Type/id cursor, and the AuditEvent search with
// its recorded.stripe.link.position cursor. None panics; each refuses with
// a client error or gives a position the database takes: text without NUL
// or invalid UTF-8, timestamps PostgreSQL holds, counts and offsets within
// their limits. The AuditEvent search is also a POST form, which the HTTP
// layer's check of the URL's query does not cover; history and $everything
// are GET only, so their input is what that check lets through.
func FuzzCursor(f *testing.F) {
	for _, s := range []string{
		"_cursor=0b3c7e2a-1f&_snapshot=120", "_before=abc&_snapshot=7&_count=2", "_sort=name&_offset=20&_snapshot=3", "_offset=1000001&_sort=name",
		"_snapshot=-1", "_snapshot=9223372036854775808", "_cursor=%00", "_before=%FF",
		"_cursor=1735689600000000.3.12.4", "_cursor=-62135596800000000.0.0.0", "_cursor=9223372036854775807.0.0.0", "_cursor=-9223372036854775808.0.0.0", "_cursor=1.70000.1.1",
		"_cursor=1.2.3", "_cursor=a.b.c.d", "_cursor=1.2.3.4.5", "date=ge2024-01-01&entity=Patient/1&patient=p&_count=5&_cursor=1.1.1.1",
		"altid=x&action=R&outcome=0&_summary=count&_total=accurate", "entity=%00", "altid=%FF", "_cursor=Patient/1", "_cursor=x:Observation/o-1",
		"_cursor=x:", "_cursor=/", "_cursor=Nope/1", "_since=2024-01-01T00:00:00Z&_cursor=42", "_since=0000-01-01T00:00:00Z", "_since=10000",
		"_cursor=0", "_count=0", "_count=99999999999999999999",
	} {
		f.Add(s)
	}
	s := New(nil, nil)
	sorted := []storage.Sort{{Expr: func(func(any) string) string { return "v.id" }}}
	f.Fuzz(func(t *testing.T, query string) {
		q, _ := url.ParseQuery(query)
		get := true // what the HTTP layer's check of a URL's query lets through
		for name, values := range q {
			get = get && search.WellFormed(name) && search.WellFormed(strings.Join(values, ""))
		}

		// A search's page: Search parses the parameters first.
		if parsed, err := s.search.Parse("Patient", q, search.Options{}); err == nil {
			for _, sort := range [][]storage.Sort{nil, sorted} {
				crit := parsed.Criteria
				crit.Sort = sort
				_, err := s.page(context.Background(), &crit, q, parsed.Count)
				if clientError(t, query, err) {
					if !search.WellFormed(crit.After) || !search.WellFormed(crit.Before) || crit.Offset < 0 || crit.Offset > search.MaxOffset ||
						crit.Snapshot < 0 || crit.Limit < 1 || crit.Limit > search.MaxCount+1 {
						t.Fatalf("%q: page %+v", query, crit)
					}
				}
			}
		}

		if get {
			h, err := historyQuery(HistoryParams{Type: "Patient", Query: q})
			if clientError(t, query, err) && (h.Limit < 1 || h.Limit > search.MaxCount || h.Before < 0 || !pgTime(h.Since)) {
				t.Fatalf("%q: history %+v", query, h)
			}
			var e storage.Everything
			err = everythingCursor(&e, q.Get("_cursor"))
			if clientError(t, query, err) && (e.AfterType != "" && !profiles.IsResourceType(e.AfterType) || !search.WellFormed(e.AfterID)) {
				t.Fatalf("%q: $everything cursor %+v", query, e)
			}
			if n, err := snapshotParam(q); clientError(t, query, err) && n < 0 {
				t.Fatalf("%q: snapshot %d", query, n)
			}
		}

		as, err := auditQuery(q, Options{BaseURL: fuzzBase})
		if clientError(t, query, err) {
			aq := as.Query
			ok := pgTime(aq.From) && pgTime(aq.To) && search.WellFormed(aq.AltID) && search.WellFormed(aq.Action) &&
				search.WellFormed(aq.Outcome) && aq.Limit >= 2 && aq.Limit <= search.MaxCount+1
			for _, en := range aq.Entities {
				ok = ok && search.WellFormed(en)
			}
			if a := aq.After; a != nil {
				ok = ok && pgTime(a.Recorded) && a.Stripe >= 0 && a.Link >= 0 && a.Position >= 0
			}
			if !ok {
				t.Fatalf("%q: audit query %+v", query, aq)
			}
		}
	})
}

// pgTime: zero (no bound) or within PostgreSQL's timestamptz, 4713 BC to
// 294276 AD.
func pgTime(x time.Time) bool {
	return x.IsZero() || !x.Before(time.Date(-4712, 1, 1, 0, 0, 0, 0, time.UTC)) && !x.After(time.Date(294276, 12, 31, 23, 59, 59, 0, time.UTC))
}
