package fhirserver_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirserver/fhirserver/fhirserver"
)

const jsonPatch = "application/json-patch+json"

// doublingPatch copies an extension into itself n times: each copy doubles
// it, so a kilobyte of patch once grew a resource to gigabytes.
func doublingPatch(n int) string {
	op := `{"op":"copy","from":"/extension/0","path":"/extension/0/extension/-"}`
	return "[" + strings.Repeat(op+",", n-1) + op + "]"
}

const extendedPatient = `{"resourceType":"Patient","id":"p","extension":[{"url":"http://example.org/a","extension":[{"url":"http://example.org/b","valueString":"` +
	"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" + `"}]}]}`

// patchEntry is a transaction that patches Patient/p with doc.
func patchEntry(doc string) string {
	return `{"resourceType":"Bundle","type":"transaction","entry":[{"resource":{"resourceType":"Binary","contentType":"application/json-patch+json","data":"` +
		base64.StdEncoding.EncodeToString([]byte(doc)) + `"},"request":{"method":"PATCH","url":"Patient/p"}}]}`
}

// A JSON Patch is bounded in operations, in what its copies add and in
// what it produces, and is checked operation by operation before it is
// applied, alone or inside a transaction; a refused patch writes nothing.
func TestPatchLimits(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	small := newServer(t, func(c *fhirserver.Config) { c.MaxBodyBytes = 4096 })
	for _, s := range []*testServer{ts, small} {
		require.Equal(t, 201, s.do("PUT", "/Patient/p", fhirJSON, extendedPatient).Status)
	}
	manyTests := `[` + strings.Repeat(`{"op":"test","path":"/id","value":"p"},`, 1000) + `{"op":"test","path":"/id","value":"p"}]`
	tests := []struct {
		name   string
		ts     *testServer
		doc    string
		status int
		code   string
	}{
		{"copies doubling the resource", ts, doublingPatch(14), 413, "too-long"},
		{"more than 1000 operations", ts, manyTests, 413, "too-long"},
		{"result beyond the body limit", small, `[{"op":"add","path":"/extension/0/extension/-","value":{"url":"http://example.org/c","valueString":"` + strings.Repeat("x", 3900) + `"}}]`, 413, "too-long"},
		{"test of the whole resource without a value", ts, `[{"op":"test","path":""}]`, 400, "structure"},
		{"test without a value", ts, `[{"op":"test","path":"/id"}]`, 400, "structure"},
		{"add without a value", ts, `[{"op":"add","path":"/active"}]`, 400, "structure"},
		{"unknown op", ts, `[{"op":"frobnicate","path":"/active"}]`, 400, "structure"},
		{"no op", ts, `[{"path":"/active","value":true}]`, 400, "structure"},
		{"no path", ts, `[{"op":"remove"}]`, 400, "structure"},
		{"path not a pointer", ts, `[{"op":"add","path":"active","value":true}]`, 400, "structure"},
		{"path not a string", ts, `[{"op":"add","path":1,"value":true}]`, 400, "structure"},
		{"bad escape in path", ts, `[{"op":"add","path":"/a~2b","value":true}]`, 400, "structure"},
		{"escape at the end of path", ts, `[{"op":"remove","path":"/active~"}]`, 400, "structure"},
		{"copy without from", ts, `[{"op":"copy","path":"/extension/-"}]`, 400, "structure"},
		{"move from not a pointer", ts, `[{"op":"move","from":"extension","path":"/x"}]`, 400, "structure"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assertOutcome(t, tc.ts.do("PATCH", "/Patient/p", jsonPatch, tc.doc), tc.status, tc.code, "")
			if tc.ts == ts {
				assertOutcome(t, ts.do("POST", "", fhirJSON, patchEntry(tc.doc)), tc.status, tc.code, "")
			}
		})
	}
	for _, s := range []*testServer{ts, small} {
		r := s.do("GET", "/Patient/p", "", "")
		assert.Equal(t, `W/"1"`, r.Header.Get("ETag"), "no refused patch wrote anything")
		assert.JSONEq(t, extendedPatient, string(withoutMeta(t, r.Body)))
	}
	r := ts.do("PATCH", "/Patient/p", jsonPatch, `[{"op":"test","path":"/extension/0/extension/0/url","value":"http://example.org/b"},{"op":"copy","from":"/extension/0","path":"/extension/-"},{"op":"add","path":"/a~1b~0c","value":1},{"op":"remove","path":"/a~1b~0c"}]`)
	assert.Equal(t, 200, r.Status, "a patch within the limits: %s", r.Body)
}

func withoutMeta(t *testing.T, body []byte) []byte {
	var m map[string]any
	require.NoError(t, json.Unmarshal(body, &m))
	delete(m, "meta")
	b, err := json.Marshal(m)
	require.NoError(t, err)
	return b
}

// panickyAuditor panics once when armed: a fault in a dependency, which the
// test controls, standing for any bug in a handler.
type panickyAuditor struct {
	fhirserver.Auditor
	armed *atomic.Bool
}

func (p panickyAuditor) Record(ctx context.Context, event []byte) error {
	if p.armed.CompareAndSwap(true, false) {
		panic("Chalmers, Peter James") // a panic's value may quote a record
	}
	return p.Auditor.Record(ctx, event)
}

// syncBuffer is a log sink the server's goroutines may share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// A panic in a handler is answered with a 500 OperationOutcome, audited
// and logged without what it carried; the server goes on serving.
func TestPanicIsAnswered(t *testing.T) {
	t.Parallel()
	var armed atomic.Bool
	logs := &syncBuffer{}
	ts := newServerWith(t, 15*time.Minute, func(a fhirserver.Auditor) fhirserver.Auditor { return panickyAuditor{a, &armed} },
		func(c *fhirserver.Config) { c.Log = slog.New(slog.NewJSONHandler(logs, nil)) })
	ts.create("Patient", `{"resourceType":"Patient","name":[{"family":"Chalmers"}]}`)
	before := len(auditEvents(t, ts))
	armed.Store(true)
	r := ts.do("GET", "/Patient?family=Chalmers", "", "")
	assertOutcome(t, r, 500, "exception", "")
	assert.NotContains(t, string(r.Body), "Chalmers")
	events := auditEvents(t, ts)[before:]
	require.Len(t, events, 1, "the failure is audited")
	assert.Equal(t, "8", events[0]["outcome"])
	assert.Contains(t, logs.String(), `"msg":"panic"`)
	assert.Contains(t, logs.String(), "recoverPanic", "the stack says where")
	assert.NotContains(t, logs.String(), "Chalmers", "no PHI in the log")
	assert.Equal(t, 200, ts.do("GET", "/Patient?family=Chalmers", "", "").Status, "still serving")
}

// rawRequest sends head (a request without its body) on a new connection
// and reads the answer, failing if none comes while the client sends
// nothing more. It reports whether the server then closed the connection.
func rawRequest(t *testing.T, addr, head string) (*http.Response, bool) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer conn.Close()
	_, err = io.WriteString(conn, head)
	require.NoError(t, err)
	// A bound so that a server waiting on the body fails the test instead
	// of hanging it; the answer comes at once.
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(10*time.Second)))
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	require.NoError(t, err, "the server answers without waiting for the body")
	_, err = io.ReadAll(resp.Body)
	require.NoError(t, err)
	resp.Body.Close()
	_, err = br.ReadByte()
	return resp, errors.Is(err, io.EOF)
}

// A client that announces a body and sends none holds nothing: without a
// token it is refused at once and its connection closed, whatever the
// size it announced (net/http used to drain bodies it did not recognize).
func TestUnreadBodiesAreNotAwaited(t *testing.T) {
	t.Parallel()
	addr := func(ts *testServer) string {
		return strings.TrimPrefix(strings.TrimSuffix(ts.URL, "/fhir"), "http://")
	}
	big := addr(newServer(t))
	small := addr(newServer(t, func(c *fhirserver.Config) { c.MaxBodyBytes = 4096 }))
	tests := []struct {
		name, addr, headers string
		status              int
	}{
		{"50 MB announced", big, "Content-Length: 52428800\r\n", 401},
		{"1 KB announced", big, "Content-Length: 1000\r\n", 401},
		{"asking to continue", big, "Content-Length: 52428800\r\nExpect: 100-continue\r\n", 401},
		{"chunked", big, "Transfer-Encoding: chunked\r\n", 401},
		{"wrong token", big, "Authorization: Bearer nope\r\nContent-Length: 52428800\r\n", 401},
		{"beyond the limit", big, "Content-Length: 1073741824\r\n", 413},
		{"beyond a small limit", small, "Content-Length: 5000\r\n", 413},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, closed := rawRequest(t, tc.addr, "POST /fhir/Patient HTTP/1.1\r\nHost: "+tc.addr+"\r\nContent-Type: application/fhir+json\r\n"+tc.headers+"\r\n")
			assert.Equal(t, tc.status, resp.StatusCode)
			assert.True(t, resp.Close, "the answer says the connection closes")
			assert.True(t, closed, "the connection is closed, not kept to drain the body")
		})
	}
}

// The HTTP server cuts a client that trickles its headers at the
// read-header timeout, and answers a body that stops arriving at the read
// timeout with 400, never a 500.
func TestSlowClientsAreCut(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	srv := fhirserver.NewHTTPServer(ts.app, fhirserver.Timeouts{ReadHeader: 300 * time.Millisecond, Read: 500 * time.Millisecond})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	addr := ln.Addr().String()

	t.Run("slow headers", func(t *testing.T) {
		conn, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		defer conn.Close()
		_, err = io.WriteString(conn, "GET /fhir/metadata HTTP/1.1\r\nHost: x\r\n")
		require.NoError(t, err)
		var cut atomic.Bool
		finished := make(chan bool, 1)
		go func() { // a header every 100 ms for 10 s, unless cut first
			for range 100 {
				time.Sleep(100 * time.Millisecond)
				if cut.Load() {
					finished <- false
					return
				}
				if _, err := io.WriteString(conn, "X-Slow: 1\r\n"); err != nil {
					finished <- false
					return
				}
			}
			finished <- true
		}()
		require.NoError(t, conn.SetReadDeadline(time.Now().Add(20*time.Second)))
		b, _ := io.ReadAll(conn)
		cut.Store(true)
		assert.False(t, <-finished, "the server closed the connection while the headers were still coming")
		assert.NotContains(t, string(b), "200 OK")
	})
	t.Run("slow body", func(t *testing.T) {
		head := "POST /fhir/Patient HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + ts.token +
			"\r\nContent-Type: application/fhir+json\r\nContent-Length: 1000\r\n\r\n{\"resourceType\":"
		resp, _ := rawRequest(t, addr, head)
		assert.Equal(t, 400, resp.StatusCode)
	})
}

func gzipped(t *testing.T, s string) string {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	_, err := io.WriteString(w, s)
	require.NoError(t, err)
	require.NoError(t, w.Close())
	return b.String()
}

// A gzip-compressed body is decoded, held to the body limit after
// decoding; other encodings are refused with 415.
func TestEncodedBodies(t *testing.T) {
	t.Parallel()
	ts := newServer(t, func(c *fhirserver.Config) { c.MaxBodyBytes = 4096 })
	patient := `{"resourceType":"Patient","id":"p","active":true}`
	bomb := `{"resourceType":"Patient","id":"p","text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">` + strings.Repeat("x", 1<<20) + `</div>"}}`
	tests := []struct {
		name, encoding, body string
		status               int
		code                 string
	}{
		{"gzip bomb", "gzip", gzipped(t, bomb), 413, "too-long"},
		{"not gzip", "gzip", patient, 400, "incomplete"},
		{"truncated gzip", "gzip", gzipped(t, patient)[:20], 400, "incomplete"},
		{"brotli", "br", patient, 415, "not-supported"},
		{"deflate", "deflate", patient, 415, "not-supported"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assertOutcome(t, ts.do("PUT", "/Patient/p", fhirJSON, tc.body, "Content-Encoding", tc.encoding), tc.status, tc.code, "")
		})
	}
	assertOutcome(t, ts.do("GET", "/Patient/p", "", ""), 404, "not-found", "")
	r := ts.do("PUT", "/Patient/p", fhirJSON, gzipped(t, patient), "Content-Encoding", "gzip")
	require.Equal(t, 201, r.Status, "%s", r.Body)
	assert.Equal(t, true, r.json(t)["active"])
	r = ts.do("PATCH", "/Patient/p", jsonPatch, gzipped(t, `[{"op":"replace","path":"/active","value":false}]`), "Content-Encoding", "gzip")
	require.Equal(t, 200, r.Status, "%s", r.Body)
	assert.Equal(t, false, r.json(t)["active"])
}

// Values the patterns let through but no database can hold or search are
// refused with 400, and nothing is written.
func TestImpossibleValues(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	obs := func(value string) string {
		return `{"resourceType":"Observation","status":"final","code":{"text":"x"},` + value + `}`
	}
	tests := []struct {
		name, path, body, code, expression string
	}{
		{"repeated key", "/Patient", `{"resourceType":"Patient","gender":"male","gender":"female"}`, "structure", ""},
		{"repeated key, escaped", "/Patient", `{"resourceType":"Patient","gender":"male","\u0067ender":"female"}`, "structure", ""},
		{"repeated key deep", "/Patient", `{"resourceType":"Patient","name":[{"family":"a","family":"b"}]}`, "structure", ""},
		{"repeated key in a Bundle entry", "", `{"resourceType":"Bundle","type":"transaction","entry":[{"resource":{"resourceType":"Patient","active":true,"active":false},"request":{"method":"POST","url":"Patient"}}]}`, "structure", ""},
		{"decimal overflow", "/Observation", obs(`"valueQuantity":{"value":1e200000}`), "value", "Observation.value.ofType(Quantity).value"},
		{"decimal beyond a double", "/Observation", obs(`"valueQuantity":{"value":-1e309}`), "value", ""},
		{"decimal underflow", "/Observation", obs(`"valueQuantity":{"value":1e-400}`), "value", ""},
		{"decimal with too many digits", "/Observation", obs(`"valueQuantity":{"value":0.` + strings.Repeat("1", 20000) + `}`), "value", ""},
		{"integer overflow", "/Observation", obs(`"valueInteger":1e20`), "value", ""},
		{"integer beyond 32 bits", "/Observation", obs(`"valueInteger":2147483648`), "value", ""},
		{"impossible date", "/Patient", `{"resourceType":"Patient","birthDate":"2023-02-30"}`, "value", "Patient.birthDate"},
		{"not a leap year", "/Patient", `{"resourceType":"Patient","birthDate":"2023-02-29"}`, "value", "Patient.birthDate"},
		{"impossible dateTime", "/Observation", obs(`"effectiveDateTime":"2023-04-31T10:00:00Z"`), "value", ""},
		{"impossible instant", "/Observation", obs(`"issued":"2023-06-31T10:00:00.000Z"`), "value", "Observation.issued"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assertOutcome(t, ts.do("POST", tc.path, fhirJSON, tc.body), 400, tc.code, tc.expression)
		})
	}
	h := ts.do("GET", "/_history", "", "").json(t)
	assert.Empty(t, h["entry"], "nothing was written")
	require.Equal(t, 201, ts.do("POST", "/Patient", fhirJSON, `{"resourceType":"Patient","birthDate":"2024-02-29"}`).Status, "a leap day is a day")
	require.Equal(t, 201, ts.do("POST", "/Observation", fhirJSON, obs(`"valueQuantity":{"value":1.5e300}`)).Status)
}
