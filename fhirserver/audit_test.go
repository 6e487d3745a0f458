package fhirserver_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirserver/fhirserver/smart"
	"github.com/fhirserver/fhirserver/storage/audit"
)

// auditEvents reads the audit log in the order it was written.
func auditEvents(t *testing.T, ts *testServer) []map[string]any {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, ts.owner)
	require.NoError(t, err)
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT event FROM audit_record ORDER BY recorded, stripe, link, position`)
	require.NoError(t, err)
	var out []map[string]any
	for rows.Next() {
		var raw string
		require.NoError(t, rows.Scan(&raw))
		var ev map[string]any
		require.NoError(t, json.Unmarshal([]byte(raw), &ev))
		out = append(out, ev)
	}
	require.NoError(t, rows.Err())
	return out
}

// summary is what a test checks of an AuditEvent.
type summary struct {
	Interaction, Action, Outcome string
	Entities                     []string
	Client, User, FHIRUser       string
	Address, UserAgent, Query    string
}

func summarize(ev map[string]any) summary {
	var s summary
	s.Interaction = ev["subtype"].([]any)[0].(map[string]any)["code"].(string)
	s.Action, s.Outcome = ev["action"].(string), ev["outcome"].(string)
	for _, e := range asList(ev["entity"]) {
		what := e["what"].(map[string]any)
		if ref, ok := what["reference"].(string); ok {
			s.Entities = append(s.Entities, ref)
		}
		if q, ok := e["query"].(string); ok {
			b, _ := base64.StdEncoding.DecodeString(q)
			s.Query = string(b)
		}
	}
	for _, a := range asList(ev["agent"]) {
		who := a["who"].(map[string]any)
		id, _ := who["identifier"].(map[string]any)
		if a["network"] != nil {
			s.Address = a["network"].(map[string]any)["address"].(string)
			s.UserAgent = a["extension"].([]any)[0].(map[string]any)["valueString"].(string)
			if id != nil {
				s.Client = id["value"].(string)
			} else {
				s.Client = who["display"].(string)
			}
			continue
		}
		s.User = id["value"].(string)
		s.FHIRUser, _ = who["reference"].(string)
	}
	return s
}

func asList(v any) []map[string]any {
	var out []map[string]any
	list, _ := v.([]any)
	for _, x := range list {
		out = append(out, x.(map[string]any))
	}
	return out
}

// Every FHIR interaction leaves an AuditEvent naming who asked, from where,
// what was returned or touched and how it ended, in an intact chain.
func TestEveryInteractionIsAudited(t *testing.T) {
	t.Parallel()
	ts := launchServer(t)
	tok := launchToken(t, ts, "launch/patient openid fhirUser patient/*.rs", nil, nil)
	user := tok["access_token"].(string)
	before := len(auditEvents(t, ts)) // the fixture's own writes

	require.Equal(t, 200, ts.do("GET", "/Patient/p1", "", "").Status)
	require.Equal(t, 200, ts.do("GET", "/Observation?patient=p1&_include=Observation:performer", "", "").Status)
	created := ts.create("Observation", `{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"Patient/p1"}}`)
	require.Equal(t, 200, fhirGet(ts, user, "/Patient/p1").Status)
	require.Equal(t, 404, fhirGet(ts, user, "/Patient/p2").Status, "another patient's: not even seen")
	require.Equal(t, 401, fhirGet(ts, "", "/Patient/p1").Status)

	events := auditEvents(t, ts)[before:]
	require.Len(t, events, 6)
	var got []summary
	for _, ev := range events {
		got = append(got, summarize(ev))
	}
	assert.Equal(t, summary{Interaction: "read", Action: "R", Outcome: "0", Entities: []string{"Patient/p1"},
		Client: ts.clientID, Address: "127.0.0.1", UserAgent: "Go-http-client/1.1"}, got[0])
	assert.Equal(t, "search-type", got[1].Interaction)
	assert.ElementsMatch(t, []string{"Observation/o1", "Practitioner/dr1"}, got[1].Entities, "matches and includes")
	q, err := url.ParseQuery(got[1].Query)
	require.NoError(t, err)
	assert.Equal(t, "p1", q.Get("patient"))
	assert.Equal(t, "create", got[2].Interaction)
	assert.Equal(t, "C", got[2].Action)
	assert.Equal(t, []string{"Observation/" + created["id"].(string)}, got[2].Entities)
	assert.Equal(t, "doc", got[3].User, "the person behind the app")
	assert.Equal(t, "Practitioner/dr1", got[3].FHIRUser)
	assert.Equal(t, "app", got[3].Client)
	assert.Equal(t, summary{Interaction: "read", Action: "R", Outcome: "4", Entities: []string{"Patient/p2"},
		Client: "app", User: "doc", FHIRUser: "Practitioner/dr1", Address: "127.0.0.1", UserAgent: "Go-http-client/1.1"}, got[4], "a refusal is audited")
	assert.Equal(t, "unauthenticated", got[5].Client)
	assert.Equal(t, "4", got[5].Outcome)

	n, broken, err := audit.New(ts.store).Verify(context.Background(), ts.auditKey)
	require.NoError(t, err)
	assert.Nil(t, broken)
	assert.EqualValues(t, before+6, n)
}

// When the audit log cannot take a record, no PHI goes out: the client
// gets 503 and nothing of the resource.
func TestAuditFailsClosed(t *testing.T) {
	t.Parallel()
	ts := launchServer(t)
	ts.failAudit.Store(true)
	r := ts.do("GET", "/Patient/p1", "", "")
	assert.Equal(t, 503, r.Status)
	assert.NotContains(t, string(r.Body), "Chalmers")
	assert.Empty(t, r.Header.Get("ETag"))
	assert.Equal(t, "OperationOutcome", r.json(t)["resourceType"])
	r = ts.do("GET", "/Observation?patient=p1", "", "")
	assert.Equal(t, 503, r.Status)
	assert.NotContains(t, string(r.Body), "o1")
	ts.failAudit.Store(false)
	assert.Equal(t, 200, ts.do("GET", "/Patient/p1", "", "").Status)
}

// Auditors read the audit log as AuditEvent resources; nobody else does,
// nobody writes it, and reading it is audited too.
func TestAuditorsReadTheAuditLog(t *testing.T) {
	t.Parallel()
	ts := launchServer(t)
	ctx := context.Background()
	_, err := ts.smart.RegisterClient(ctx, smart.Client{ID: "audit-app", Public: true, RedirectURIs: []string{appRedirect},
		Scopes: []string{"user/AuditEvent.rs", "user/*.rs"}})
	require.NoError(t, err)
	require.NoError(t, ts.smart.AddUser(ctx, smart.User{Username: "auditor", Password: password, Role: "auditor"}))
	userToken := func(username string) string {
		b := newBrowser(ts)
		p := b.get(authorizeURL(ts, "user/AuditEvent.rs", map[string]string{"client_id": "audit-app"}))
		p = b.submit(p, url.Values{"username": {username}, "password": {password}})
		p = b.submit(p, url.Values{"decision": {"approve"}})
		u, err := url.Parse(p.location)
		require.NoError(t, err)
		status, tok, _ := tokenPost(ts, url.Values{"grant_type": {"authorization_code"}, "code": {u.Query().Get("code")},
			"redirect_uri": {appRedirect}, "client_id": {"audit-app"}, "code_verifier": {appVerifier}})
		require.Equal(t, 200, status, "%v", tok)
		return tok["access_token"].(string)
	}
	require.Equal(t, 200, ts.do("GET", "/Patient/p1", "", "").Status)
	require.Equal(t, 200, ts.do("GET", "/Patient/p2", "", "").Status)
	auditor := userToken("auditor")
	// Every search parameter the CapabilityStatement claims for AuditEvent
	// answers, under handling=strict.
	saved := ts.token
	ts.token = auditor
	for _, q := range []string{"date=ge2020-01-01", "entity=Patient/p1", "patient=p1", "altid=auditor", "action=R", "outcome=0"} {
		assert.Equal(t, 200, ts.do("GET", "/AuditEvent?"+q, "", "", "Prefer", "handling=strict").Status, q)
	}
	assert.Equal(t, 400, ts.do("GET", "/AuditEvent?agent-name=x", "", "", "Prefer", "handling=strict").Status, "not claimed, not answered")
	ts.token = saved

	r := fhirGet(ts, auditor, "/AuditEvent?patient=p1")
	keys := entryKeys(t, r)
	require.NotEmpty(t, keys)
	for _, e := range searchEntries(t, r) {
		assert.Contains(t, fmt.Sprint(e["entity"]), "Patient/p1")
	}
	first := strings.TrimPrefix(keys[0], "AuditEvent/")
	one := fhirGet(ts, auditor, "/AuditEvent/"+first)
	require.Equal(t, 200, one.Status, "%s", one.Body)
	assert.Equal(t, first, one.json(t)["id"])
	assert.Equal(t, 404, fhirGet(ts, auditor, "/AuditEvent/no-such-event").Status)
	page := fhirGet(ts, auditor, "/AuditEvent?_count=2")
	assert.Len(t, entryKeys(t, page), 2)
	assert.Contains(t, string(page.Body), `"relation":"next"`)
	assert.Equal(t, 400, fhirGet(ts, auditor, "/AuditEvent?date=yesterday").Status)

	assert.Equal(t, 403, fhirGet(ts, userToken("doc"), "/AuditEvent").Status, "a clinician is not an auditor")
	assert.Equal(t, 403, ts.do("GET", "/AuditEvent", "", "").Status, "system/*.cruds does not name the audit log")
	admin := ts.tokenFor("system/*.cruds system/AuditEvent.cruds")
	assert.Equal(t, 405, ts.doWith(admin, "POST", "/AuditEvent", fhirJSON, `{"resourceType":"AuditEvent"}`).Status)
	assert.Equal(t, 405, ts.doWith(admin, "DELETE", "/AuditEvent/"+first, "", "").Status)
	assert.Equal(t, 200, fhirGet(ts, admin, "/AuditEvent?patient=p2").Status, "an auditing system with the scope")

	// AuditEvent/$verify recomputes the chains, for auditors only.
	v := fhirGet(ts, auditor, "/AuditEvent/$verify")
	require.Equal(t, 200, v.Status, "%s", v.Body)
	assert.Contains(t, string(v.Body), `{"name":"intact","valueBoolean":true}`)
	assert.Equal(t, 403, fhirGet(ts, userToken("doc"), "/AuditEvent/$verify").Status)
	conn, err := pgx.Connect(ctx, ts.owner)
	require.NoError(t, err)
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, `SET session_replication_role = replica; UPDATE audit_link SET events[1] = '{"resourceType":"AuditEvent","id":"forged"}' WHERE stripe = 0 AND link = 1`)
	require.NoError(t, err)
	v = fhirGet(ts, auditor, "/AuditEvent/$verify")
	assert.Contains(t, string(v.Body), `{"name":"intact","valueBoolean":false}`)
	assert.Contains(t, string(v.Body), `{"name":"link","valueInteger":1}`, "the first broken link")

	// The auditor's own reads are in the log.
	mine := searchEntries(t, fhirGet(ts, auditor, "/AuditEvent?altid=auditor"))
	require.NotEmpty(t, mine)
	assert.Contains(t, fmt.Sprint(mine), "AuditEvent/"+first)
}

// searchEntries are a searchset's resources.
func searchEntries(t *testing.T, r response) []map[string]any {
	t.Helper()
	require.Equal(t, 200, r.Status, "%s", r.Body)
	var b struct {
		Entry []struct{ Resource map[string]any }
	}
	require.NoError(t, json.Unmarshal(r.Body, &b))
	var out []map[string]any
	for _, e := range b.Entry {
		out = append(out, e.Resource)
	}
	return out
}
