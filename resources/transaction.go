package resources

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/fhirserver/fhirserver/outcome"
	"github.com/fhirserver/fhirserver/profiles"
	"github.com/fhirserver/fhirserver/resources/access"
	"github.com/fhirserver/fhirserver/storage"
)

// txEntry is one entry of a transaction or batch Bundle.
type txEntry struct {
	index   int
	path    string // Bundle.entry[i], for error expressions
	method  string
	target  target
	fullURL string
	res     *profiles.Resource
	body    map[string]any // the entry's resource, for PATCH as a Binary
	ifMatch int64
	ifNone  string

	result Result
	err    error
}

// target is what an entry's request.url names.
type target struct {
	Type, ID, VID, Query string
	rawQuery             string
}

func (t target) key() storage.Key { return storage.Key{Type: t.Type, ID: t.ID} }

// Bundle is POST [base] with a transaction or batch Bundle. The raw body is
// logged before any entry is processed, and its outcome after. The body is
// decoded once, first: the log records its kind, and decoding writes nothing.
func (s *Service) Bundle(ctx context.Context, c access.Caller, body []byte, o Options) (Result, error) {
	res, err := s.parse(body)
	return s.logged(ctx, c, kindOf(res, body), body, func() (Result, error) {
		if err != nil {
			return Result{}, err
		}
		return s.bundle(ctx, c, res, o)
	})
}

// Load runs a body through the transaction path on behalf of the loader.
func (s *Service) Load(ctx context.Context, c access.Caller, body []byte, o Options) (Result, error) {
	res, err := s.parse(body)
	return s.logged(ctx, c, "load", body, func() (Result, error) {
		if err != nil {
			return Result{}, err
		}
		return s.bundle(ctx, c, res, o)
	})
}

func (s *Service) logged(ctx context.Context, c access.Caller, kind string, body []byte, run func() (Result, error)) (Result, error) {
	id, err := s.store.LogInbound(ctx, kind, c.ID, body)
	if err != nil {
		return Result{}, err
	}
	r, err := run()
	status, summary := r.Status, fmt.Sprintf("%d entries answered", strings.Count(string(r.Body), `"response"`))
	if err != nil {
		oe := outcome.From(err)
		status, summary = oe.Kind.Status(), string(oe.OperationOutcome())
	}
	if lerr := s.store.LogOutcome(ctxDetached(ctx), id, status, summary); lerr != nil {
		s.log.Error("inbound outcome not logged", "inbound_id", id, "err", lerr)
	}
	return r, err
}

// kindOf names a body for the inbound log, from its decoded form when it
// decoded, else by a second, lenient look at the raw body.
func kindOf(res *profiles.Resource, body []byte) string {
	var k string
	if res != nil {
		if res.Type == "Bundle" {
			k, _ = res.Object["type"].(string)
		}
	} else {
		var b struct{ Type string }
		_ = json.Unmarshal(body, &b)
		k = b.Type
	}
	if k == "transaction" || k == "batch" {
		return k
	}
	return "unknown"
}

func (s *Service) bundle(ctx context.Context, c access.Caller, res *profiles.Resource, o Options) (Result, error) {
	kind, entries, err := parseBundle(res, o.BaseURL)
	if err != nil {
		return Result{}, err
	}
	if kind == "batch" {
		s.batch(ctx, c, entries, o)
	} else if err := s.transaction(ctx, c, entries, o); err != nil {
		return Result{}, err
	}
	out, err := responseBundle(kind+"-response", entries, o)
	if err != nil {
		return Result{}, err
	}
	r := ok(out, nil)
	for _, e := range entries {
		if e.err == nil && e.result.Version != nil {
			r.Keys = append(r.Keys, e.result.Version.Key)
		}
	}
	return r, nil
}

// parseBundle reads a validated transaction or batch Bundle into its kind
// and entries, each with its share of the warnings; nothing in it needs
// the database.
func parseBundle(res *profiles.Resource, base string) (string, []*txEntry, error) {
	if res.Type != "Bundle" {
		return "", nil, outcome.E(outcome.Invalid, "POST to the base takes a Bundle, not a %s", res.Type).At("Bundle.resourceType")
	}
	kind, _ := res.Object["type"].(string)
	if kind != "transaction" && kind != "batch" {
		return "", nil, outcome.E(outcome.Invalid, "Bundle.type must be transaction or batch, not %q", kind).At("Bundle.type")
	}
	entries, err := parseEntries(res.Object, base)
	if err != nil {
		return "", nil, err
	}
	shareWarnings(res.Warnings, entries)
	return kind, entries, nil
}

// shareWarnings gives each entry the warnings the Bundle's validation
// found in its resource, for the entry's response outcome.
func shareWarnings(warnings []outcome.Issue, entries []*txEntry) {
	for _, w := range warnings {
		if len(w.Expression) == 0 {
			continue
		}
		rest, ok := strings.CutPrefix(w.Expression[0], "Bundle.entry[")
		end := strings.IndexByte(rest, ']')
		if !ok || end < 0 {
			continue
		}
		i, err := strconv.Atoi(rest[:end])
		if err == nil && i < len(entries) && entries[i].res != nil {
			entries[i].res.Warnings = append(entries[i].res.Warnings, w)
		}
	}
}

func parseEntries(bundle map[string]any, base string) ([]*txEntry, error) {
	list, _ := bundle["entry"].([]any)
	entries := make([]*txEntry, 0, len(list))
	for i, item := range list {
		e, err := parseEntry(i, item.(map[string]any), base)
		if err != nil {
			return nil, err
		}
		entries = append(entries, e)
	}
	return entries, nil
}

func parseEntry(i int, m map[string]any, base string) (*txEntry, error) {
	e := &txEntry{index: i, path: "Bundle.entry[" + strconv.Itoa(i) + "]"}
	req, _ := m["request"].(map[string]any)
	e.method, _ = req["method"].(string)
	rawURL, _ := req["url"].(string)
	if req == nil || e.method == "" || rawURL == "" {
		return nil, outcome.E(outcome.Invalid, "every entry needs request.method and request.url").At(e.path + ".request")
	}
	t, err := parseTarget(rawURL, base)
	if err != nil {
		return nil, err.(*outcome.Error).At(e.path + ".request.url")
	}
	e.target = t
	e.fullURL, _ = m["fullUrl"].(string)
	e.ifNone, _ = req["ifNoneExist"].(string)
	if im, _ := req["ifMatch"].(string); im != "" {
		if e.ifMatch, err = parseIfMatch(im); err != nil {
			return nil, err.(*outcome.Error).At(e.path + ".request.ifMatch")
		}
	}
	if obj, ok := m["resource"].(map[string]any); ok {
		e.body = obj
		e.res = &profiles.Resource{Type: obj["resourceType"].(string), Object: obj}
	}
	return e, e.check()
}

// check refuses entries whose method, URL and resource do not fit together.
func (e *txEntry) check() error {
	bad := func(format string, args ...any) error {
		return outcome.E(outcome.Invalid, format, args...).At(e.path)
	}
	switch e.method {
	case http.MethodPost:
		if e.target.ID != "" || e.target.Query != "" {
			return bad("POST entries name a type only")
		}
	case http.MethodPut:
		if e.target.ID == "" && e.target.Query == "" {
			return bad("PUT entries name Type/id or Type?criteria")
		}
	case http.MethodDelete:
		if e.target.ID == "" && e.target.Query == "" {
			return bad("DELETE entries name Type/id or Type?criteria")
		}
	case http.MethodPatch:
		if e.target.ID == "" {
			return bad("PATCH entries name Type/id")
		}
	case http.MethodGet, http.MethodHead:
		return nil
	default:
		return bad("method %q is not allowed in a Bundle", e.method)
	}
	if (e.method == http.MethodPost || e.method == http.MethodPut) && (e.res == nil || e.res.Type != e.target.Type) {
		return bad("a %s entry needs a %s resource", e.method, e.target.Type)
	}
	if e.method == http.MethodPatch && (e.res == nil || e.res.Type != "Binary") {
		return bad("a PATCH entry carries its JSON access.Patch as a Binary resource")
	}
	return nil
}

func parseTarget(raw, base string) (target, error) {
	if strings.HasPrefix(raw, base+"/") {
		raw = strings.TrimPrefix(raw, base+"/")
	}
	u, err := url.Parse(raw)
	if err != nil || u.IsAbs() || strings.HasPrefix(raw, "/") {
		return target{}, outcome.E(outcome.Invalid, "request.url must be relative to this server's base")
	}
	parts := strings.Split(u.Path, "/")
	t := target{Type: parts[0], Query: u.RawQuery, rawQuery: u.RawQuery}
	if !profiles.IsResourceType(t.Type) {
		return t, outcome.E(outcome.Invalid, "%q is not a resource type", t.Type)
	}
	switch {
	case len(parts) == 2:
		t.ID = parts[1]
	case len(parts) == 4 && parts[2] == "_history":
		t.ID, t.VID = parts[1], parts[3]
	case len(parts) != 1:
		return t, outcome.E(outcome.Invalid, "request.url %q is not supported in a Bundle", raw)
	}
	if t.ID != "" && !ValidID(t.ID) {
		return t, outcome.E(outcome.Invalid, "%q is not a valid resource id", t.ID)
	}
	return t, nil
}

func (e *txEntry) interaction() access.Interaction {
	switch e.method {
	case http.MethodPost:
		return access.Create
	case http.MethodPut:
		return access.Update
	case http.MethodPatch:
		return access.Patch
	case http.MethodDelete:
		return access.Delete
	}
	switch {
	case e.target.VID != "":
		return access.VRead
	case e.target.ID != "":
		return access.Read
	}
	return access.Search
}

// phase orders a transaction's entries as the specification says: DELETE,
// then POST, then PUT and PATCH, then GET and HEAD.
func (e *txEntry) phase() int {
	switch e.method {
	case http.MethodDelete:
		return 0
	case http.MethodPost:
		return 1
	case http.MethodPut, http.MethodPatch:
		return 2
	}
	return 3
}

func sortedByPhase(entries []*txEntry) []*txEntry {
	out := append([]*txEntry(nil), entries...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].phase() < out[j].phase() })
	return out
}
