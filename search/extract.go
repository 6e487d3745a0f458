package search

import (
	"encoding/json"
	"sort"
	"strings"
	"sync"
	"unicode"

	"golang.org/x/text/unicode/norm"

	"github.com/fhirserver/fhirserver/profiles"
	"github.com/fhirserver/fhirserver/search/fhirpath"
	"github.com/fhirserver/fhirserver/storage"
)

// R4 is the registry of the R4 and US Core definitions shipped with the
// server, compiled once. The definitions are fixed at build time and a test
// compiles them all, so an error here means a broken build.
var R4 = sync.OnceValues(func() (*Registry, error) { return Load(profiles.ResourceTypes()) })

// fromVersionRow are answered from resource_version's own columns.
var fromVersionRow = map[string]bool{"_id": true, "_lastUpdated": true}

// Extract computes the search index entries of a resource of type typ.
func (r *Registry) Extract(typ string, resource map[string]any) storage.Index {
	var x extraction
	var components []storage.Index
	for _, p := range r.indexed(typ) {
		if p.Type == "composite" {
			x.ix.Composites = append(x.ix.Composites, r.composites(p, resource, &components)...)
			continue
		}
		// The evaluator's errors are about shapes a valid resource does
		// not have: such a parameter yields nothing.
		_ = p.extract.EvaluateFunc(resource, func(nodes []fhirpath.Node) {
			for _, n := range nodes {
				x.add(p, n)
			}
		})
	}
	return x.ix
}

// indexedParams holds, by registry and type, the parameters Extract
// evaluates, in the order of their codes: those with an expression, not
// answered from resource_version's columns nor by another parameter's
// rows. A registry does not change once loaded.
var indexedParams sync.Map // indexedKey -> []*Param

type indexedKey struct {
	r   *Registry
	typ string
}

func (r *Registry) indexed(typ string) []*Param {
	k := indexedKey{r, typ}
	if v, ok := indexedParams.Load(k); ok {
		return v.([]*Param)
	}
	var out []*Param
	for code, p := range r.byType[typ] {
		if fromVersionRow[code] || p.indexAs != nil || p.Type != "composite" && p.extract == nil {
			continue
		}
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Code < out[j].Code })
	v, _ := indexedParams.LoadOrStore(k, out)
	return v.([]*Param)
}

type extraction struct{ ix storage.Index }

func (x *extraction) add(p *Param, n fhirpath.Node) {
	switch p.Type {
	case "string":
		x.strings(p.Code, n.Value)
	case "token":
		x.tokens(p.Code, n)
	case "reference":
		x.reference(p.Code, n.Value)
	case "date":
		x.dates(p.Code, n.Value)
	case "number":
		if v, ok := n.Value.(json.Number); ok {
			x.ix.Numbers = append(x.ix.Numbers, storage.NumberEntry{Param: p.Code, Value: string(v)})
		}
	case "quantity":
		x.quantity(p.Code, n.Value)
	case "uri":
		if s, ok := n.Value.(string); ok {
			x.ix.URIs = append(x.ix.URIs, storage.URIEntry{Param: p.Code, Value: s})
		}
	}
}

// nameParts and addressParts are the strings a HumanName or Address
// search matches (FHIR R4 search, string).
var (
	nameParts    = []string{"family", "given", "prefix", "suffix", "text"}
	addressParts = []string{"line", "city", "district", "state", "postalCode", "country", "text"}
)

func (x *extraction) strings(param string, v any) {
	switch v := v.(type) {
	case string:
		x.ix.Strings = append(x.ix.Strings, storage.StringEntry{Param: param, Value: Normalize(v), Exact: v})
	case map[string]any:
		parts := nameParts
		if _, isName := v["family"]; !isName && v["given"] == nil {
			parts = addressParts
		}
		for _, k := range parts {
			for _, s := range stringsOf(v[k]) {
				x.strings(param, s)
			}
		}
	}
}

func stringsOf(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, item := range v {
			if s, ok := item.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

func (x *extraction) token(param string, system, code, text *string) {
	x.ix.Tokens = append(x.ix.Tokens, storage.TokenEntry{Param: param, System: system, Code: code, Text: text})
}

// hasText tells whether a token row from the first on carries text. The
// text of a CodeableConcept has a row of its own, without a code, for
// :text; most concepts' text is their first coding's display, which that
// coding's row already carries: a second row would match no search the
// first does not, and cost the ingest two index entries (a fifth of the
// token rows were such).
func (x *extraction) hasText(first int, text string) bool {
	for _, t := range x.ix.Tokens[first:] {
		if t.Text != nil && *t.Text == text {
			return true
		}
	}
	return false
}

func (x *extraction) tokens(param string, n fhirpath.Node) {
	switch v := n.Value.(type) {
	case string:
		x.token(param, nil, &v, nil)
	case bool:
		s := "false"
		if v {
			s = "true"
		}
		x.token(param, nil, &s, nil)
	case map[string]any:
		x.tokenElement(param, n.Type, v)
	}
}

// tokenElement indexes a CodeableConcept, Coding, Identifier or ContactPoint.
func (x *extraction) tokenElement(param, typ string, v map[string]any) {
	str := func(k string) *string {
		if s, ok := v[k].(string); ok {
			return &s
		}
		return nil
	}
	norm := func(s *string) *string {
		if s == nil {
			return nil
		}
		n := Normalize(*s)
		return &n
	}
	switch {
	case v["coding"] != nil || typ == "CodeableConcept" || v["text"] != nil && v["value"] == nil:
		codings, _ := v["coding"].([]any)
		first := len(x.ix.Tokens)
		for _, c := range codings {
			if m, ok := c.(map[string]any); ok {
				x.tokenElement(param, "Coding", m)
			}
		}
		if t := str("text"); t != nil {
			if t = norm(t); !x.hasText(first, *t) {
				x.token(param, nil, nil, t)
			}
		}
	case v["value"] != nil: // Identifier or ContactPoint
		system := str("system")
		if typ == "ContactPoint" || isContactSystem(system) {
			system = nil // phone, email, ...: not a code system
		}
		var text *string
		if t, ok := v["type"].(map[string]any); ok {
			if s, ok := t["text"].(string); ok {
				text = norm(&s)
			}
			x.ofType(param, t, str("value"))
		}
		x.token(param, system, str("value"), text)
	case v["code"] != nil || v["system"] != nil:
		x.token(param, str("system"), str("code"), norm(str("display")))
	}
}

var contactSystems = map[string]bool{"phone": true, "fax": true, "email": true, "pager": true, "url": true, "sms": true, "other": true}

func isContactSystem(s *string) bool { return s != nil && contactSystems[*s] }

func (x *extraction) reference(param string, v any) {
	switch v := v.(type) {
	case string: // canonical or uri
		url, _, _ := strings.Cut(v, "|")
		x.addReference(param, url)
	case map[string]any:
		if ref, ok := v["reference"].(string); ok {
			x.addReference(param, ref)
		}
		if id, ok := v["identifier"].(map[string]any); ok {
			x.tokenElement(param+":identifier", "Identifier", id)
		}
	}
}

// addReference indexes a literal reference: Type/id locally, an absolute
// URL as written plus the type and id its path ends with.
func (x *extraction) addReference(param, ref string) {
	if ref == "" || strings.HasPrefix(ref, "#") {
		return // contained resources are not searched by reference
	}
	e := storage.ReferenceEntry{Param: param}
	absolute := strings.Contains(ref, ":")
	if absolute {
		e.URL = &ref
	}
	if typ, id, ok := splitReference(ref); ok {
		e.TargetType, e.TargetID = &typ, &id
	} else if !absolute {
		e.TargetID = &ref // a bare id
	}
	x.ix.References = append(x.ix.References, e)
}

// splitReference reads [base/]Type/id[/_history/v].
func splitReference(ref string) (typ, id string, ok bool) {
	if i := strings.Index(ref, "/_history/"); i >= 0 {
		ref = ref[:i]
	}
	typ = fhirpath.ReferenceType(ref)
	if typ == "" {
		return "", "", false
	}
	id = ref[strings.LastIndexByte(ref, '/')+1:]
	return typ, id, id != ""
}

func (x *extraction) dates(param string, v any) {
	switch v := v.(type) {
	case string:
		if lo, hi, err := DateRange(v); err == nil {
			x.ix.Dates = append(x.ix.Dates, storage.DateEntry{Param: param, Lo: lo, Hi: hi})
		}
	case map[string]any:
		if events, ok := v["event"].([]any); ok { // Timing
			for _, e := range events {
				x.dates(param, e)
			}
			return
		}
		if e, ok := periodRange(v); ok {
			x.ix.Dates = append(x.ix.Dates, storage.DateEntry{Param: param, Lo: e.Lo, Hi: e.Hi})
		}
	}
}

func (x *extraction) quantity(param string, v any) {
	m, ok := v.(map[string]any)
	if !ok {
		return
	}
	value, ok := m["value"].(json.Number)
	if !ok {
		return
	}
	str := func(k string) *string {
		if s, ok := m[k].(string); ok {
			return &s
		}
		return nil
	}
	e := storage.QuantityEntry{Param: param, Value: string(value), System: str("system"), Code: str("code"), Unit: str("unit")}
	if cur := str("currency"); cur != nil { // Money
		sys := "urn:iso:std:iso:4217"
		e.System, e.Code = &sys, cur
	}
	x.ix.Quantities = append(x.ix.Quantities, e)
}

// Normalize is what string search compares: lower case, without accents
// or other combining marks.
func Normalize(s string) string {
	ascii, upper := true, false
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			ascii = false
			break
		}
		upper = upper || s[i] >= 'A' && s[i] <= 'Z'
	}
	switch {
	case ascii && !upper:
		return s
	case ascii:
		// ASCII has no combining marks and decomposes to itself: lower
		// case is all there is to do, without the Unicode tables.
		return strings.ToLower(s)
	}
	var b strings.Builder
	for _, r := range norm.NFD.String(s) {
		if !unicode.Is(unicode.Mn, r) {
			b.WriteRune(unicode.ToLower(r))
		}
	}
	return b.String()
}

// ExtractParam computes the index entries of one parameter from its own
// expression, even when its values are stored under another parameter's
// rows: an independent account of what it should match, for tests.
func (r *Registry) ExtractParam(typ, code string, resource map[string]any) storage.Index {
	var x extraction
	p := r.Param(typ, code)
	if p == nil {
		return x.ix
	}
	nodes, _ := p.Evaluate(resource)
	for _, n := range nodes {
		x.add(p, n)
	}
	return x.ix
}

// ofType indexes an Identifier for :of-type: one row per coding of its
// type, the type's code and the identifier's value joined by "|".
func (x *extraction) ofType(param string, typ map[string]any, value *string) {
	codings, _ := typ["coding"].([]any)
	if value == nil || strings.HasSuffix(param, ":identifier") {
		return
	}
	for _, c := range codings {
		m, _ := c.(map[string]any)
		sys, _ := m["system"].(string)
		code, ok := m["code"].(string)
		if !ok {
			continue
		}
		joined := code + "|" + *value
		x.token(param+":of-type", &sys, &joined, nil)
	}
}
