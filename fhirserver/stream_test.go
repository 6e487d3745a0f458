package fhirserver_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirserver/fhirserver/fhirserver"
)

// gateAuditor holds the next record, once armed, until the test lets it
// go, or fails it: an audit log that is slow to make a record durable,
// or down.
type gateAuditor struct {
	fhirserver.Auditor
	armed, fail      *atomic.Bool
	entered, release chan struct{}
}

func (g gateAuditor) Record(ctx context.Context, event []byte) error {
	if g.armed.CompareAndSwap(true, false) {
		g.entered <- struct{}{}
		<-g.release
		if g.fail.Load() {
			return errors.New("the audit log is down")
		}
	}
	return g.Auditor.Record(ctx, event)
}

const streamedObservations = 300

const bodyChunk = 64 // resources' chunk of bodies

// streamedPages are the pages that stream, each holding every observation
// of patient big.
var streamedPages = []struct {
	name, method, path, form string
	entries                  int
}{
	{"search", "GET", "/Observation?subject=Patient/big&_count=1000&_include=Observation:performer", "", streamedObservations + 1},
	{"compartment search", "GET", "/Patient/big/Observation?_count=1000", "", streamedObservations},
	{"POST _search", "POST", "/Observation/_search", "subject=Patient/big&_count=1000", streamedObservations},
	{"$everything", "GET", "/Patient/big/$everything?_count=1000", "", streamedObservations + 2},
	{"history", "GET", "/Observation/_history?_count=1000", "", streamedObservations},
}

// streamed is what a client got of a page, and whether any byte of the
// answer had arrived while the audit record was held.
type streamed struct {
	status       int
	body         []byte
	readErr      error
	earlyByte    bool
	contentType  string
	contentLen   int64
	auditEntered bool
}

// fetchHeld asks for a page while the audit record of the answer is held,
// runs during(), then lets the record go (or fail).
func fetchHeld(t *testing.T, ts *testServer, g gateAuditor, method, path, form string, during func()) streamed {
	t.Helper()
	var first atomic.Bool
	var body io.Reader
	if form != "" {
		body = strings.NewReader(form)
	}
	req, err := http.NewRequest(method, ts.URL+path, body)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+ts.token)
	if form != "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{GotFirstResponseByte: func() { first.Store(true) }}))
	done := make(chan streamed, 1)
	g.armed.Store(true)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- streamed{readErr: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		done <- streamed{status: resp.StatusCode, body: b, readErr: err, contentType: resp.Header.Get("Content-Type"), contentLen: resp.ContentLength}
	}()
	var out streamed
	select {
	case <-g.entered:
		out.auditEntered = true
		time.Sleep(200 * time.Millisecond) // time for a byte to arrive, if one were sent
		out.earlyByte = first.Load()
		during()
		g.release <- struct{}{}
	case <-time.After(30 * time.Second):
		t.Fatal("the page was never audited")
	}
	got := <-done
	got.auditEntered, got.earlyByte = out.auditEntered, out.earlyByte
	return got
}

func streamServer(t *testing.T) (*testServer, gateAuditor) {
	t.Helper()
	g := gateAuditor{armed: &atomic.Bool{}, fail: &atomic.Bool{}, entered: make(chan struct{}), release: make(chan struct{})}
	ts := newServerWith(t, 15*time.Minute, func(a fhirserver.Auditor) fhirserver.Auditor { g.Auditor = a; return g })
	var entries []string
	entry := func(typ, id, body string) {
		entries = append(entries, `{"resource":`+body+`,"request":{"method":"PUT","url":"`+typ+`/`+id+`"}}`)
	}
	entry("Patient", "big", `{"resourceType":"Patient","id":"big"}`)
	entry("Practitioner", "doc", `{"resourceType":"Practitioner","id":"doc"}`)
	for i := range streamedObservations {
		id := fmt.Sprintf("o%03d", i)
		entry("Observation", id, `{"resourceType":"Observation","id":"`+id+`","status":"final","code":{"text":"x"},`+
			`"subject":{"reference":"Patient/big"},"performer":[{"reference":"Practitioner/doc"}]}`)
	}
	r := ts.do("POST", "", fhirJSON, `{"resourceType":"Bundle","type":"transaction","entry":[`+strings.Join(entries, ",")+`]}`)
	require.Equal(t, 200, r.Status, "%s", r.Body)
	return ts, g
}

// No byte of a page leaves before its audit record is durable; a page
// whose record cannot be made durable is answered 503 with nothing of
// it; and once the record is durable the page is whole, with the headers
// of a buffered one but no length, and every entry.
func TestStreamedPagesWaitForTheirAuditRecord(t *testing.T) {
	ts, g := streamServer(t)
	for _, tc := range streamedPages {
		t.Run(tc.name, func(t *testing.T) {
			got := fetchHeld(t, ts, g, tc.method, tc.path, tc.form, func() {})
			require.NoError(t, got.readErr)
			assert.False(t, got.earlyByte, "no byte before the audit record is durable")
			require.Equal(t, 200, got.status, "%s", got.body)
			assert.Equal(t, "application/fhir+json; charset=utf-8", got.contentType)
			assert.Equal(t, int64(-1), got.contentLen, "streamed: no Content-Length")
			var b struct{ Entry []json.RawMessage }
			require.NoError(t, json.Unmarshal(got.body, &b))
			assert.Len(t, b.Entry, tc.entries)
		})
		t.Run(tc.name+", audit down", func(t *testing.T) {
			g.fail.Store(true)
			defer g.fail.Store(false)
			got := fetchHeld(t, ts, g, tc.method, tc.path, tc.form, func() {})
			require.NoError(t, got.readErr)
			assert.False(t, got.earlyByte)
			assertOutcome(t, response{Status: got.status, Header: http.Header{"Content-Type": {got.contentType}}, Body: got.body}, 503, "transient", "")
			assert.NotContains(t, string(got.body), "Bundle")
			assert.NotContains(t, string(got.body), "Observation/")
		})
	}
}

// The bodies of a page are read after its audit record, by exact
// version: a body lost meanwhile (a read that fails mid-stream) leaves
// the client a broken response, never a whole-looking Bundle with an
// entry less.
func TestStreamedPageBrokenMidStreamIsCut(t *testing.T) {
	ts, g := streamServer(t)
	conn, err := pgx.Connect(context.Background(), ts.owner)
	require.NoError(t, err)
	defer conn.Close(context.Background())
	_, err = conn.Exec(context.Background(), `SET session_replication_role = replica`) // past the append-only triggers
	require.NoError(t, err)
	for i, tc := range streamedPages {
		t.Run(tc.name, func(t *testing.T) {
			lost := fmt.Sprintf("o%03d", 250+i) // in the fourth chunk of bodies, by id
			if tc.name == "history" {
				lost = fmt.Sprintf("o%03d", i) // in the fourth, newest first
			}
			got := fetchHeld(t, ts, g, tc.method, tc.path, tc.form, func() {
				tag, err := conn.Exec(context.Background(), `DELETE FROM resource_version WHERE type = 'Observation' AND id = $1`, lost)
				require.NoError(t, err)
				require.Positive(t, tag.RowsAffected())
			})
			assert.False(t, got.earlyByte)
			assert.Equal(t, 200, got.status, "the status was out before the failure")
			assert.ErrorIs(t, got.readErr, io.ErrUnexpectedEOF, "the client sees the response cut")
			assert.False(t, json.Valid(got.body), "no well-formed Bundle")
			assert.GreaterOrEqual(t, strings.Count(string(got.body), `"fullUrl"`), 2*bodyChunk, "entries were streamed before the failure")
		})
	}
}
