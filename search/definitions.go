package search

import (
	"bytes"
	"compress/gzip"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/fhirserver/fhirserver/search/fhirpath"
)

//go:embed data/search-parameters.json.gz data/compartmentdefinition-patient.json data/us-core-search-parameters.json
var data embed.FS

// Param is one search parameter as it applies to one resource type.
type Param struct {
	Code string
	// URL is the canonical of the definition clients know the parameter
	// by: US Core's where US Core defines the code on the type.
	URL        string
	Type       string // number, date, string, token, reference, composite, quantity, uri, special
	Expression string // the parts of the definition's expression for this type
	Targets    []string
	Components []Component // composite parameters only
	extract    *fhirpath.Expression
	// indexAs, when set, are the parameters whose index rows answer this
	// one, which is not indexed itself: patient is subject restricted to
	// targetType Patient, combo-code is code or component-code.
	indexAs    []string
	targetType string
	base       string // the resource type it applies to
}

// codes are the parameter codes whose index rows hold this parameter's values.
func (p *Param) codes() []string {
	if p.indexAs != nil {
		return p.indexAs
	}
	return []string{p.Code}
}

// Component is one part of a composite parameter.
type Component struct {
	Definition string // canonical URL of the component's parameter
	Expression string // relative to the composite's element
	extract    *fhirpath.Expression
}

// Evaluate runs the parameter's expression on a resource.
func (p *Param) Evaluate(resource map[string]any) ([]fhirpath.Node, error) {
	if p.extract == nil {
		return nil, nil
	}
	return p.extract.Evaluate(resource)
}

// Registry holds the compiled parameters of every resource type and the
// Patient compartment.
type Registry struct {
	byType      map[string]map[string]*Param
	byURL       map[string]*Param
	compartment map[string][]string // resource type -> its parameters that link a Patient
	Special     []string            // parameters without an expression (_text, _content, _query)
	USCore      []string            // the US Core versions whose definitions it holds
}

// Params returns the parameters of a resource type, keyed by code,
// including those every resource has (_id, _lastUpdated, ...).
func (r *Registry) Params(typ string) map[string]*Param { return r.byType[typ] }

// Param returns one parameter of a type, or nil.
func (r *Registry) Param(typ, code string) *Param { return r.byType[typ][code] }

// ByURL returns the parameter (for some base type) with a canonical URL.
func (r *Registry) ByURL(url string) *Param { return r.byURL[url] }

// CompartmentParams are the parameters of typ that put a resource in a
// Patient's compartment; nil if typ is not in it.
func (r *Registry) CompartmentParams(typ string) []string { return r.compartment[typ] }

// Types lists the types with parameters, sorted.
func (r *Registry) Types() []string {
	out := make([]string, 0, len(r.byType))
	for t := range r.byType {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// Load reads and compiles the R4 and US Core definitions shipped with the
// server. Every parameter whose expression does not compile is named in
// the error.
func Load(resourceTypes []string) (*Registry, error) {
	raw, err := readGzip("data/search-parameters.json.gz")
	if err != nil {
		return nil, err
	}
	comp, err := data.ReadFile("data/compartmentdefinition-patient.json")
	if err != nil {
		return nil, err
	}
	usCore, err := data.ReadFile("data/us-core-search-parameters.json")
	if err != nil {
		return nil, err
	}
	return load(raw, usCore, comp, resourceTypes)
}

func readGzip(name string) ([]byte, error) {
	f, err := data.ReadFile(name)
	if err != nil {
		return nil, err
	}
	zr, err := gzip.NewReader(bytes.NewReader(f))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return io.ReadAll(zr)
}

// definition is the part of a SearchParameter resource used here.
type definition struct {
	ID         string   `json:"id"`
	URL        string   `json:"url"`
	Code       string   `json:"code"`
	Base       []string `json:"base"`
	Type       string   `json:"type"`
	Expression string   `json:"expression"`
	Target     []string `json:"target"`
	Component  []struct {
		Definition string `json:"definition"`
		Expression string `json:"expression"`
	} `json:"component"`
}

// bundle is a Bundle of SearchParameters, or data/us-core-search-parameters.json.
type bundle struct {
	Versions []string `json:"versions"`
	Entry    []struct {
		Resource definition `json:"resource"`
	} `json:"entry"`
}

func load(r4, usCore, compartment []byte, resourceTypes []string) (*Registry, error) {
	var b, us bundle
	if err := json.Unmarshal(r4, &b); err != nil {
		return nil, fmt.Errorf("search parameters: %w", err)
	}
	if err := json.Unmarshal(usCore, &us); err != nil {
		return nil, fmt.Errorf("US Core search parameters: %w", err)
	}
	r := &Registry{byType: map[string]map[string]*Param{}, byURL: map[string]*Param{}, USCore: us.Versions}
	var errs []error
	for _, e := range b.Entry {
		if err := r.add(e.Resource, resourceTypes); err != nil {
			errs = append(errs, err)
		}
	}
	for _, e := range us.Entry {
		if err := r.addUSCore(e.Resource, resourceTypes); err != nil {
			errs = append(errs, err)
		}
	}
	for _, params := range r.byType {
		r.shareIndexes(params)
	}
	if err := r.loadCompartment(compartment); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("search parameters that cannot be compiled:\n%w", errors.Join(errs...))
	}
	sort.Strings(r.Special)
	return r, nil
}

// add registers a definition under each of its base types, with only the
// expression parts that apply to that type.
func (r *Registry) add(d definition, resourceTypes []string) error {
	if d.Expression == "" {
		r.Special = append(r.Special, d.Code)
		return nil
	}
	bases := d.Base
	if len(bases) == 1 && (bases[0] == "Resource" || bases[0] == "DomainResource") {
		bases = resourceTypes
	}
	var errs []error
	for _, base := range bases {
		p, err := compileFor(d, base)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s (%s on %s): %w", d.ID, d.Code, base, err))
			continue
		}
		if r.byType[base] == nil {
			r.byType[base] = map[string]*Param{}
		}
		r.byType[base][d.Code] = p
		if _, ok := r.byURL[d.URL]; !ok {
			r.byURL[d.URL] = p
		}
	}
	return errors.Join(errs...)
}

// addUSCore registers a US Core definition beside R4's. A code R4 already
// has on the type keeps R4's expression, which selects the same elements
// (TestUSCoreRedefinitionsMeanWhatR4Does), so the index rows written
// before stay right; it takes US Core's canonical, which US Core clients
// look for in the CapabilityStatement. A type change would make those
// rows wrong, so it stops the server instead.
func (r *Registry) addUSCore(d definition, resourceTypes []string) error {
	var errs []error
	for _, base := range d.Base {
		old := r.byType[base][d.Code]
		if old == nil {
			one := d
			one.Base = []string{base}
			errs = append(errs, r.add(one, resourceTypes))
			continue
		}
		if old.Type != d.Type {
			errs = append(errs, fmt.Errorf("%s (%s on %s): US Core's type %s is not R4's %s", d.ID, d.Code, base, d.Type, old.Type))
			continue
		}
		p := *old
		p.URL = d.URL
		r.byType[base][d.Code], r.byURL[d.URL] = &p, &p
	}
	return errors.Join(errs...)
}

func compileFor(d definition, base string) (*Param, error) {
	src := partsFor(d.Expression, base)
	x, err := fhirpath.Compile(src)
	if err != nil {
		return nil, err
	}
	p := &Param{Code: d.Code, URL: d.URL, Type: d.Type, Expression: src, Targets: d.Target, extract: x, base: base}
	for _, c := range d.Component {
		cx, err := fhirpath.Compile(c.Expression)
		if err != nil {
			return nil, fmt.Errorf("component %s: %w", c.Definition, err)
		}
		p.Components = append(p.Components, Component{Definition: c.Definition, Expression: c.Expression, extract: cx})
	}
	return p, nil
}

// partsFor keeps the top-level `|` alternatives of expr that start at base
// (or at Resource/DomainResource); if none does, the whole expression.
func partsFor(expr, base string) string {
	var kept []string
	for _, part := range splitUnion(expr) {
		root := rootType(part)
		if root == base || root == "Resource" || root == "DomainResource" {
			kept = append(kept, part)
		}
	}
	if len(kept) == 0 {
		return expr
	}
	return strings.Join(kept, " | ")
}

// splitUnion splits at `|` outside parentheses and string literals.
func splitUnion(expr string) []string {
	var parts []string
	depth, start, quoted := 0, 0, false
	for i := 0; i < len(expr); i++ {
		switch c := expr[i]; {
		case c == '\'' && (i == 0 || expr[i-1] != '\\'):
			quoted = !quoted
		case quoted:
		case c == '(':
			depth++
		case c == ')':
			depth--
		case c == '|' && depth == 0:
			parts = append(parts, strings.TrimSpace(expr[start:i]))
			start = i + 1
		}
	}
	return append(parts, strings.TrimSpace(expr[start:]))
}

// rootType is the type name a part starts with: "(Observation.value as
// Quantity)" starts with Observation.
func rootType(part string) string {
	part = strings.TrimLeft(part, "( ")
	end := strings.IndexAny(part, ". ")
	if end < 0 {
		return part
	}
	return part[:end]
}

// loadCompartment reads which parameters link each type to a Patient.
func (r *Registry) loadCompartment(raw []byte) error {
	var cd struct {
		Resource []struct {
			Code  string   `json:"code"`
			Param []string `json:"param"`
		} `json:"resource"`
	}
	if err := json.Unmarshal(raw, &cd); err != nil {
		return fmt.Errorf("patient compartment: %w", err)
	}
	r.compartment = map[string][]string{}
	var errs []error
	for _, res := range cd.Resource {
		for _, code := range res.Param {
			if code != "{def}" && r.Param(res.Code, code) == nil {
				errs = append(errs, fmt.Errorf("patient compartment: %s has no parameter %q", res.Code, code))
			}
		}
		if len(res.Param) > 0 {
			r.compartment[res.Code] = res.Param
		}
	}
	return errors.Join(errs...)
}

var whereResolveIs = regexp.MustCompile(`^(.*)\.where\(resolve\(\) is (\w+)\)$`)

// shareIndexes finds the parameters of one type whose values are exactly
// those of others, so that they are searched through the others' index
// rows instead of writing the same values twice: X.where(resolve() is T)
// beside a reference parameter X, and a union of other parameters'
// expressions (combo-code is code | component-code; combo-value-quantity
// is value-quantity's two parts and component-value-quantity's two; the
// composite combo-code-value-quantity is code-value-quantity on
// Observation and on Observation.component). About a fifth of the index
// rows of clinical resources, and a tenth more of Observations'.
func (r *Registry) shareIndexes(params map[string]*Param) {
	byExpr := map[string]*Param{}
	for _, p := range params {
		if p.Type != "composite" {
			byExpr[p.Expression] = p
		}
	}
	for _, p := range params {
		if m := whereResolveIs.FindStringSubmatch(p.Expression); p.Type != "composite" && m != nil {
			if q := byExpr[m[1]]; q != nil && q != p && q.Type == "reference" && p.Type == "reference" {
				p.indexAs, p.targetType = []string{q.Code}, m[2]
			}
			continue
		}
		p.indexAs = r.unionOf(p, params)
	}
	// A parameter answered by a union is answered by that union's own
	// parameters; one answered by another must not itself be answered by
	// a third.
	for _, p := range params {
		var codes []string
		for _, c := range p.indexAs {
			if q := params[c]; q.indexAs != nil && q.targetType == "" && p.targetType == "" {
				codes = append(codes, q.indexAs...)
			} else {
				codes = append(codes, c)
			}
		}
		slices.Sort(codes)
		p.indexAs = slices.Compact(codes)
	}
	for _, p := range params {
		for _, c := range p.indexAs {
			if params[c].indexAs != nil {
				p.indexAs, p.targetType = nil, ""
				break
			}
		}
	}
}

// unionOf returns the codes of the other parameters whose expressions'
// parts, put together, are exactly p's: the largest of those whose parts
// are all among p's (and fewer). Nil when they do not cover p.
func (r *Registry) unionOf(p *Param, params map[string]*Param) []string {
	parts := splitUnion(p.Expression)
	if len(parts) < 2 {
		return nil
	}
	var found []*Param
	for _, q := range params {
		if q != p && q.Type == p.Type && q.targetType == "" && !whereResolveIs.MatchString(q.Expression) &&
			r.sameComponents(p, q) && partOf(q, p) {
			found = append(found, q)
		}
	}
	covered := map[string]bool{}
	var codes []string
	for _, q := range found {
		if slices.ContainsFunc(found, func(o *Param) bool { return partOf(q, o) }) {
			continue // a part of a larger one found
		}
		codes = append(codes, q.Code)
		for _, part := range splitUnion(q.Expression) {
			covered[part] = true
		}
	}
	if slices.ContainsFunc(parts, func(part string) bool { return !covered[part] }) {
		return nil
	}
	slices.Sort(codes)
	return codes
}

// partOf tells whether every part of q's expression is one of o's, o
// having more.
func partOf(q, o *Param) bool {
	qp, op := splitUnion(q.Expression), splitUnion(o.Expression)
	if len(qp) >= len(op) {
		return false
	}
	for _, part := range qp {
		if !slices.Contains(op, part) {
			return false
		}
	}
	return true
}

// sameComponents tells whether two parameters' components (none for all
// but composites) select the same values, of the same types, in order.
func (r *Registry) sameComponents(p, q *Param) bool {
	if len(p.Components) != len(q.Components) {
		return false
	}
	for i, c := range p.Components {
		d := q.Components[i]
		if c.Expression != d.Expression {
			return false
		}
		pc, qc := r.ByURL(c.Definition), r.ByURL(d.Definition)
		if pc == nil || qc == nil || pc.Type != qc.Type {
			return false
		}
	}
	return true
}

// IndexCodes are the parameter codes whose index rows answer typ's code.
func (r *Registry) IndexCodes(typ, code string) []string {
	if p := r.Param(typ, code); p != nil {
		return p.codes()
	}
	return []string{code}
}
