package fhirserver_test

import (
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func entries(t *testing.T, r response) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, e := range r.json(t)["entry"].([]any) {
		out = append(out, e.(map[string]any))
	}
	return out
}

func status(e map[string]any) string { return e["response"].(map[string]any)["status"].(string) }

func TestTransactionResolvesReferencesInOneCommit(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	ts.do("PUT", "/Organization/org1", fhirJSON, `{"resourceType":"Organization","id":"org1","identifier":[{"system":"urn:org","value":"o-1"}]}`)
	ts.do("PUT", "/Patient/gone", fhirJSON, `{"resourceType":"Patient","id":"gone"}`)
	tx := `{"resourceType":"Bundle","type":"transaction","entry":[
	  {"request":{"method":"GET","url":"Patient/p85"}},
	  {"fullUrl":"urn:uuid:11111111-1111-1111-1111-111111111111","resource":{"resourceType":"Observation","status":"final","code":{"text":"x"},
	     "subject":{"reference":"urn:uuid:22222222-2222-2222-2222-222222222222"},"performer":[{"reference":"Organization?identifier=urn:org|o-1"}],
	     "text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\"><a href=\"urn:uuid:22222222-2222-2222-2222-222222222222\">p</a></div>"}},
	   "request":{"method":"POST","url":"Observation"}},
	  {"fullUrl":"urn:uuid:22222222-2222-2222-2222-222222222222","resource":{"resourceType":"Patient","id":"p85","managingOrganization":{"reference":"Organization/org1"}},
	   "request":{"method":"PUT","url":"Patient/p85"}},
	  {"request":{"method":"DELETE","url":"Patient/gone"}},
	  {"fullUrl":"urn:uuid:33333333-3333-3333-3333-333333333333","resource":{"resourceType":"Organization","identifier":[{"system":"urn:org","value":"o-1"}]},
	   "request":{"method":"POST","url":"Organization","ifNoneExist":"identifier=urn:org|o-1"}}
	]}`
	r := ts.do("POST", "", fhirJSON, tx)
	require.Equal(t, 200, r.Status, "%s", r.Body)
	assert.Equal(t, "transaction-response", r.json(t)["type"])
	es := entries(t, r)
	require.Len(t, es, 5)
	assert.Equal(t, "200 OK", status(es[0]), "GET runs after the writes and sees them")
	assert.Equal(t, "201 Created", status(es[1]))
	assert.Equal(t, "201 Created", status(es[2]))
	assert.Equal(t, "204 No Content", status(es[3]))
	assert.Equal(t, "200 OK", status(es[4]), "the conditional create found the existing organization")
	assert.Contains(t, es[4]["response"].(map[string]any)["location"], "Organization/org1/_history/1")

	loc := es[1]["response"].(map[string]any)["location"].(string)
	obs := ts.do("GET", "/"+strings.Join(strings.Split(loc, "/")[:2], "/"), "", "").json(t)
	assert.Equal(t, "Patient/p85", obs["subject"].(map[string]any)["reference"])
	assert.Equal(t, "Organization/org1", obs["performer"].([]any)[0].(map[string]any)["reference"])
	assert.Contains(t, obs["text"].(map[string]any)["div"], `href="Patient/p85"`)
	assertOutcome(t, ts.do("GET", "/Patient/gone", "", ""), 410, "deleted", "")
}

func TestFailedTransactionLeavesNothing(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	tests := []struct {
		name, entries string
		status        int
		code          string
	}{
		{"invalid second entry", `{"resource":{"resourceType":"Patient"},"request":{"method":"POST","url":"Patient"}},
			{"resource":{"resourceType":"Patient","gender":"F"},"request":{"method":"POST","url":"Patient"}}`, 400, "code-invalid"},
		{"unresolved urn", `{"resource":{"resourceType":"Patient"},"request":{"method":"POST","url":"Patient"}},
			{"resource":{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"urn:uuid:99999999-9999-9999-9999-999999999999"}},"request":{"method":"POST","url":"Observation"}}`, 400, "invalid"},
		{"conditional reference without match", `{"resource":{"resourceType":"Patient"},"request":{"method":"POST","url":"Patient"}},
			{"resource":{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"Patient?identifier=urn:x|none"}},"request":{"method":"POST","url":"Observation"}}`, 412, "conflict"},
		{"several conditional references, one without match", `{"resource":{"resourceType":"Patient","identifier":[{"system":"urn:y","value":"1"}]},"request":{"method":"POST","url":"Patient"}},
			{"resource":{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"Patient?identifier=urn:x|none"},"performer":[{"reference":"Practitioner?identifier=urn:x|none"}]},"request":{"method":"POST","url":"Observation"}}`, 412, "conflict"},
		{"stale If-Match", `{"resource":{"resourceType":"Patient"},"request":{"method":"POST","url":"Patient"}},
			{"resource":{"resourceType":"Patient","id":"a"},"request":{"method":"PUT","url":"Patient/a","ifMatch":"W/\"4\""}}`, 412, "conflict"},
		{"same resource twice", `{"resource":{"resourceType":"Patient","id":"a"},"request":{"method":"PUT","url":"Patient/a"}},
			{"request":{"method":"DELETE","url":"Patient/a"}}`, 400, "invalid"},
		{"GET of a missing resource", `{"resource":{"resourceType":"Patient"},"request":{"method":"POST","url":"Patient"}},
			{"request":{"method":"GET","url":"Patient/missing"}}`, 404, "not-found"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := ts.do("POST", "", fhirJSON, `{"resourceType":"Bundle","type":"transaction","entry":[`+tc.entries+`]}`)
			assertOutcome(t, r, tc.status, tc.code, "")
		})
	}
	h := ts.do("GET", "/_history", "", "").json(t)
	assert.Nil(t, h["entry"], "no failed transaction wrote anything")
}

func TestBatchRunsEachEntryOnItsOwn(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	r := ts.do("POST", "", fhirJSON, `{"resourceType":"Bundle","type":"batch","entry":[
		{"resource":{"resourceType":"Organization","identifier":[{"system":"urn:o","value":"1"}]},"request":{"method":"POST","url":"Organization","ifNoneExist":"identifier=urn:o|1"}},
		{"resource":{"resourceType":"Patient","id":"b","managingOrganization":{"reference":"Organization?identifier=urn:o|1"}},"request":{"method":"PUT","url":"Patient/b"}},
		{"request":{"method":"GET","url":"Patient/nothing"}},
		{"resource":{"resourceType":"Organization","identifier":[{"system":"urn:o","value":"1"}]},"request":{"method":"POST","url":"Organization","ifNoneExist":"identifier=urn:o|1"}}
	]}`)
	require.Equal(t, 200, r.Status, "%s", r.Body)
	es := entries(t, r)
	assert.Equal(t, "batch-response", r.json(t)["type"])
	assert.Equal(t, "201 Created", status(es[0]))
	assert.Equal(t, "201 Created", status(es[1]), "a later entry resolves a conditional reference to an earlier one")
	assert.Equal(t, "404 Not Found", status(es[2]))
	assert.Equal(t, "OperationOutcome", es[2]["response"].(map[string]any)["outcome"].(map[string]any)["resourceType"])
	assert.Equal(t, "200 OK", status(es[3]), "ifNoneExist found the first")
}

func TestConditionalInteractions(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	pat := `{"resourceType":"Patient","identifier":[{"system":"urn:mrn","value":"42"}]}`
	r := ts.do("POST", "/Patient", fhirJSON, pat, "If-None-Exist", "identifier=urn:mrn|42")
	require.Equal(t, 201, r.Status)
	id := r.json(t)["id"].(string)
	r = ts.do("POST", "/Patient", fhirJSON, pat, "If-None-Exist", "identifier=urn:mrn|42")
	assert.Equal(t, 200, r.Status, "conditional create finds it")
	assert.Equal(t, id, r.json(t)["id"])

	r = ts.do("PUT", "/Patient?identifier=urn:mrn|42", fhirJSON, `{"resourceType":"Patient","active":true,"identifier":[{"system":"urn:mrn","value":"42"}]}`)
	require.Equal(t, 200, r.Status, "%s", r.Body)
	assert.Equal(t, id, r.json(t)["id"])
	assert.Equal(t, `W/"2"`, r.Header.Get("ETag"))

	r = ts.do("PUT", "/Patient?identifier=urn:mrn|43", fhirJSON, `{"resourceType":"Patient","identifier":[{"system":"urn:mrn","value":"43"}]}`)
	assert.Equal(t, 201, r.Status, "no match creates")
	ts.create("Patient", `{"resourceType":"Patient","identifier":[{"system":"urn:other","value":"42"}]}`)
	assertOutcome(t, ts.do("PUT", "/Patient?identifier=42", fhirJSON, `{"resourceType":"Patient"}`), 412, "conflict", "")
	assertOutcome(t, ts.do("DELETE", "/Patient?identifier=42", "", ""), 412, "conflict", "")
	assertOutcome(t, ts.do("POST", "/Patient", fhirJSON, pat, "If-None-Exist", "identifier=42"), 412, "conflict", "")

	assert.Equal(t, 204, ts.do("DELETE", "/Patient?_id="+id, "", "").Status)
	assertOutcome(t, ts.do("GET", "/Patient/"+id, "", ""), 410, "deleted", "")
	assert.Equal(t, 204, ts.do("DELETE", "/Patient?identifier=urn:mrn|42", "", "").Status, "no match: nothing to do")

	s := ts.do("GET", "/Patient?identifier=urn:mrn|43", "", "").json(t)
	assert.Equal(t, float64(1), s["total"])
}

// Many clients race to create the same thing conditionally: exactly one wins.
func TestConcurrentConditionalCreatesMakeOne(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	var wg sync.WaitGroup
	statuses := make(chan int, 10)
	for i := 0; i < 10; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses <- ts.do("POST", "/Patient", fhirJSON, `{"resourceType":"Patient","identifier":[{"system":"urn:c","value":"1"}]}`,
				"If-None-Exist", "identifier=urn:c|1").Status
		}()
	}
	wg.Wait()
	close(statuses)
	count := map[int]int{}
	for s := range statuses {
		count[s]++
	}
	assert.Equal(t, map[int]int{201: 1, 200: 9}, count)
}

// Batches share one database transaction with a savepoint per entry. Two
// batches that take the same conditional-create locks in opposite orders
// can deadlock; the losing entry runs again after its batch commits, so
// every entry succeeds and each identifier is created exactly once.
func TestConcurrentCrossingBatchesAllSucceed(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	entry := func(v string) string {
		return `{"resource":{"resourceType":"Patient","identifier":[{"system":"urn:x","value":"` + v + `"}]},
			"request":{"method":"POST","url":"Patient","ifNoneExist":"identifier=urn:x|` + v + `"}}`
	}
	forward := `{"resourceType":"Bundle","type":"batch","entry":[` + entry("a") + `,` + entry("b") + `,` + entry("c") + `]}`
	backward := `{"resourceType":"Bundle","type":"batch","entry":[` + entry("c") + `,` + entry("b") + `,` + entry("a") + `]}`
	var wg sync.WaitGroup
	results := make(chan response, 12)
	for i := 0; i < 12; i++ {
		body := forward
		if i%2 == 1 {
			body = backward
		}
		wg.Go(func() { results <- ts.do("POST", "", fhirJSON, body) })
	}
	wg.Wait()
	close(results)
	for r := range results {
		require.Equal(t, 200, r.Status, "%s", r.Body)
		for _, e := range entries(t, r) {
			status := e["response"].(map[string]any)["status"].(string)
			assert.Regexp(t, `^20[01] `, status, "every entry succeeds: %v", e)
		}
	}
	for _, v := range []string{"a", "b", "c"} {
		found := ts.do("GET", "/Patient?identifier=urn:x|"+v, "", "").json(t)
		assert.Len(t, found["entry"], 1, "identifier %s was created once", v)
	}
}
