package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// fakeFHIR is a minimal SMART-on-FHIR server: discovery, a client-credentials
// token endpoint, transaction/batch POST at the base, GET Type/id, and
// searches that answer every stored resource of the type (at most 1000),
// its references resolved as a server would.
type fakeFHIR struct {
	fakeOptions

	mu        sync.Mutex
	tokens    map[string]bool
	stored    map[string]bool             // Type/id
	resources map[string][]map[string]any // by type, as stored
	bundles   []int                       // entries of each transaction received
	puts      map[string]int              // how often each PUT Type/id was written
	providers int                         // batch bundles received
	problems  []string                    // protocol violations seen by the fake
}

// fakeOptions are the credentials and faults of a fakeFHIR.
type fakeOptions struct {
	clientID, secret string
	expiresIn        int
	rejectPatients   bool // answer 400 with an OperationOutcome to transactions
	failReads        bool // answer 404 to every read
}

func newFakeFHIR(t *testing.T, opts fakeOptions) (*httptest.Server, *fakeFHIR) {
	f := &fakeFHIR{fakeOptions: opts, tokens: map[string]bool{}, stored: map[string]bool{}, puts: map[string]int{}, resources: map[string][]map[string]any{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /fhir/.well-known/smart-configuration", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]any{"token_endpoint": "http://" + r.Host + "/auth/token", "grant_types_supported": []string{"client_credentials"}})
	})
	mux.HandleFunc("POST /auth/token", f.token)
	mux.HandleFunc("POST /fhir", f.authorized(f.bundle))
	mux.HandleFunc("GET /fhir/{type}/{id}", f.authorized(f.read))
	mux.HandleFunc("GET /fhir/{type}", f.authorized(f.search))
	mux.HandleFunc("GET /fhir/{type}/{id}/{op}", f.authorized(f.search))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, f
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/fhir+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func outcome(diag string) map[string]any {
	return map[string]any{"resourceType": "OperationOutcome", "issue": []any{
		map[string]any{"severity": "error", "code": "invalid", "diagnostics": diag}}}
}

func (f *fakeFHIR) problem(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.problems = append(f.problems, fmt.Sprintf(format, args...))
}

// token checks client_secret_basic with form-encoded credentials.
func (f *fakeFHIR) token(w http.ResponseWriter, r *http.Request) {
	id, secret, ok := r.BasicAuth()
	id, _ = url.QueryUnescape(id)
	secret, _ = url.QueryUnescape(secret)
	if !ok || id != f.clientID || secret != f.secret {
		writeJSON(w, 401, map[string]string{"error": "invalid_client", "error_description": "bad client credentials"})
		return
	}
	if r.PostFormValue("grant_type") != "client_credentials" || r.PostFormValue("scope") != "system/*.*" {
		writeJSON(w, 400, map[string]string{"error": "invalid_request"})
		return
	}
	f.mu.Lock()
	tok := fmt.Sprintf("tok-%d", len(f.tokens))
	f.tokens[tok] = true
	f.mu.Unlock()
	writeJSON(w, 200, map[string]any{"access_token": tok, "token_type": "bearer", "expires_in": f.expiresIn, "scope": "system/*.*"})
}

func (f *fakeFHIR) authorized(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		f.mu.Lock()
		ok := f.tokens[tok]
		f.mu.Unlock()
		if !ok {
			writeJSON(w, 401, outcome("no valid bearer token"))
			return
		}
		if r.Header.Get("Accept") != "application/fhir+json" {
			f.problem("%s %s: Accept %q", r.Method, r.URL.Path, r.Header.Get("Accept"))
		}
		next(w, r)
	}
}

// bundle stores every entry and answers with locations, relative for
// transactions and absolute for batches, as real servers differ here.
func (f *fakeFHIR) bundle(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Content-Type") != "application/fhir+json" {
		f.problem("POST: Content-Type %q", r.Header.Get("Content-Type"))
	}
	var b parsedBundle
	var head struct{ Type string }
	raw, err := io.ReadAll(r.Body)
	if err != nil || json.Unmarshal(raw, &b) != nil || json.Unmarshal(raw, &head) != nil {
		writeJSON(w, 400, outcome("not a Bundle"))
		return
	}
	if head.Type == "transaction" && f.rejectPatients {
		writeJSON(w, 400, outcome("Patient.name: minimum required = 1"))
		return
	}
	var entries []any
	resolved := map[string]string{} // fullUrl -> Type/id
	for _, e := range b.Entry {
		loc := f.store(r, head.Type, e.Request.Method, e.Request.URL, e.Resource)
		resolved[e.FullURL] = strings.TrimSuffix(strings.TrimPrefix(loc, "http://"+r.Host+"/fhir/"), "/_history/1")
		entries = append(entries, map[string]any{"response": map[string]any{"status": "201 Created", "location": loc}})
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if head.Type == "transaction" {
		f.bundles = append(f.bundles, len(b.Entry))
	}
	for _, e := range b.Entry {
		for _, ref := range referencesIn(e.Resource) {
			if strings.HasPrefix(ref, "urn:uuid:") && resolved[ref] == "" {
				f.problems = append(f.problems, "reference "+ref+" is not in the bundle")
			}
		}
		typ, _ := e.Resource["resourceType"].(string)
		f.resources[typ] = append(f.resources[typ], resolveRefs(e.Resource, resolved).(map[string]any))
	}
	writeJSON(w, 200, map[string]any{"resourceType": "Bundle", "type": head.Type + "-response", "entry": entries})
}

// resolveRefs returns v with every reference to a bundle entry replaced by
// the entry's Type/id.
func resolveRefs(v any, resolved map[string]string) any {
	switch x := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, val := range x {
			if s, ok := val.(string); ok && k == "reference" && resolved[s] != "" {
				out[k] = resolved[s]
			} else {
				out[k] = resolveRefs(val, resolved)
			}
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, val := range x {
			out[i] = resolveRefs(val, resolved)
		}
		return out
	}
	return v
}

// search answers a searchset of every stored resource of the type.
func (f *fakeFHIR) search(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	var entries []any
	for _, res := range f.resources[r.PathValue("type")] {
		if len(entries) < 1000 {
			entries = append(entries, map[string]any{"resource": res})
		}
	}
	f.mu.Unlock()
	writeJSON(w, 200, map[string]any{"resourceType": "Bundle", "type": "searchset", "entry": entries})
}

// store records one entry and returns its location.
func (f *fakeFHIR) store(r *http.Request, bundleType, method, reqURL string, res map[string]any) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	key := reqURL + "/" + newUUID()
	if method == "PUT" {
		key = reqURL
		f.puts[key]++
	}
	if typ, _ := res["resourceType"].(string); !strings.HasPrefix(key, typ+"/") {
		f.problems = append(f.problems, "entry url "+reqURL+" does not match "+typ)
	}
	f.stored[key] = true
	if bundleType == "batch" {
		f.providers++
		return "http://" + r.Host + "/fhir/" + key + "/_history/1"
	}
	return key + "/_history/1"
}

func (f *fakeFHIR) read(w http.ResponseWriter, r *http.Request) {
	key := r.PathValue("type") + "/" + r.PathValue("id")
	f.mu.Lock()
	ok := f.stored[key] && !f.failReads
	f.mu.Unlock()
	if !ok {
		writeJSON(w, 404, outcome("Resource "+key+" is not known"))
		return
	}
	writeJSON(w, 200, map[string]any{"resourceType": r.PathValue("type"), "id": r.PathValue("id")})
}
