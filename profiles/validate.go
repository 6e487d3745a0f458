package profiles

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/fhirserver/fhirserver/outcome"
	"github.com/fhirserver/fhirserver/search/fhirpath"
)

// Options tune a validation.
type Options struct {
	// Profiles are checked besides those the resource claims ($validate's
	// profile parameter).
	Profiles []string
	// Strict makes a claimed profile that is not known here an error.
	Strict bool
	// Lenient makes a claimed profile's complaints warnings: for data
	// written to older versions of a profile than the one held here.
	Lenient bool
}

// Report is what a validation found.
type Report struct {
	Invalid       []outcome.Issue // not valid R4: the request is bad (400)
	Unprocessable []outcome.Issue // valid R4 that breaks a profile it claims (422)
	Warnings      []outcome.Issue
}

// Err is nil when the report holds no error; otherwise one *outcome.Error
// listing every issue, errors first, of kind Invalid when the resource is
// not valid R4 and Unprocessable when only a profile refuses it.
func (r Report) Err() error {
	if len(r.Invalid) == 0 && len(r.Unprocessable) == 0 {
		return nil
	}
	kind := outcome.Unprocessable
	if len(r.Invalid) > 0 {
		kind = outcome.Invalid
	}
	issues := append(append(append([]outcome.Issue{}, r.Invalid...), r.Unprocessable...), r.Warnings...)
	return &outcome.Error{Kind: kind, Issues: issues}
}

// Issues lists every issue, errors first.
func (r Report) Issues() []outcome.Issue {
	return append(append(append([]outcome.Issue{}, r.Invalid...), r.Unprocessable...), r.Warnings...)
}

// Validate checks a decoded resource against the base definition of its
// type (element names, cardinality, data types, choice types included,
// primitive formats, bindings) and against the profiles it claims in
// meta.profile or opts names (cardinality, fixed and pattern values,
// slices, bindings, type profiles).
func (d *Definitions) Validate(obj map[string]any, opts Options) Report {
	_, r := d.check(obj, nil, opts)
	return r
}

// check validates obj, held at root inside an enclosing resource (nil at
// the root), and returns its type and what was found.
func (d *Definitions) check(obj map[string]any, root *path, opts Options) (string, Report) {
	v := &validator{d: d, opts: opts, arena: &pathArena{}}
	defer v.arena.release()
	typ := v.resource(obj, root)
	if len(opts.Profiles) > 0 && typ != "" {
		v.claimed(obj, typ, &path{name: typ}, opts.Profiles)
	}
	return typ, v.report()
}

// report is what v found, each list in the order of the elements' paths
// (the walk visits an object's members in map order).
func (v *validator) report() Report {
	for _, list := range [][]outcome.Issue{v.errors, v.unprocessable, v.warnings} {
		slices.SortStableFunc(list, func(a, b outcome.Issue) int {
			if c := strings.Compare(a.Expression[0], b.Expression[0]); c != 0 {
				return c
			}
			return strings.Compare(a.Diagnostics, b.Diagnostics)
		})
	}
	return Report{Invalid: v.errors, Unprocessable: v.unprocessable, Warnings: v.warnings}
}

// validator walks one resource against StructureDefinitions, collecting
// every issue with the FHIRPath of the element it concerns.
type validator struct {
	d                               *Definitions
	opts                            Options
	errors, unprocessable, warnings []outcome.Issue
	resources, roots                []map[string]any // the resources being walked and their %rootResource, outermost first
	containing                      bool             // the next resource is a contained one
	arena                           *pathArena       // where at takes paths from, shared with probes
}

// at is a new path under parent. A walk makes one for every member and
// array item it visits, each kept while the walk is below it (an issue's
// expression is written from them); taken from slabs instead of one by
// one, they were a fifth of an ingest's allocations.
func (v *validator) at(parent *path, name string, index int) *path {
	return v.arena.at(parent, name, index)
}

// pathArena hands out the paths of one check, its probes' included, from
// slabs kept between checks: made afresh for each resource, slabs were a
// twentieth of an ingest's allocation. A check's slabs are free again when
// it ends: the issues it reports copy their paths.
type pathArena struct {
	cur   []path
	slabs []*[]path
}

var pathSlabs = sync.Pool{New: func() any { s := make([]path, 0, 1024); return &s }}

func (a *pathArena) at(parent *path, name string, index int) *path {
	if len(a.cur) == cap(a.cur) {
		s := pathSlabs.Get().(*[]path)
		a.slabs = append(a.slabs, s)
		a.cur = (*s)[:0]
	}
	a.cur = append(a.cur, path{parent: parent, name: name, index: index})
	return &a.cur[len(a.cur)-1]
}

func (a *pathArena) release() {
	for _, s := range a.slabs {
		clear((*s)[:cap(*s)]) // no walk's nodes stay reachable from the pool
		pathSlabs.Put(s)
	}
}

func (v *validator) issue(severity string, p *path, code, format string, args ...any) {
	list := &v.errors
	if severity != "error" {
		list = &v.warnings
	}
	v.add(list, severity, p, code, format, args...)
}

func (v *validator) add(list *[]outcome.Issue, severity string, p *path, code, format string, args ...any) {
	if len(*list) < maxIssues {
		*list = append(*list, outcome.Issue{Severity: severity, Code: code, Diagnostics: fmt.Sprintf(format, args...), Expression: []string{p.String()}})
	}
}

// conformance records a resource's departure from a profile.
func (v *validator) conformance(p *path, code, format string, args ...any) {
	if v.opts.Lenient {
		v.add(&v.warnings, "warning", p, code, format, args...)
		return
	}
	v.add(&v.unprocessable, "error", p, code, format, args...)
}

func (v *validator) fail(p *path, code, format string, args ...any) {
	v.issue("error", p, code, format, args...)
}

func (v *validator) warn(p *path, code, format string, args ...any) {
	v.issue("warning", p, code, format, args...)
}

// resource checks a resource object against the base definition of its
// type; at is the path of the element that holds it, nil at the root.
func (v *validator) resource(obj map[string]any, at *path) string {
	rt, _ := obj["resourceType"].(string)
	p := at
	if p == nil {
		p = &path{name: rt}
	}
	sd := v.d.Base(rt)
	switch {
	case rt == "":
		if at == nil {
			p.name = "Resource"
		}
		v.fail(p, "required", "resourceType is missing or not a string")
		return ""
	case sd == nil || sd.Kind != "resource" || sd.Abstract || !IsResourceType(rt):
		if at == nil {
			p.name = "Resource"
		}
		v.fail(&path{parent: p, name: "resourceType"}, "value", "unknown resource type %q", rt)
		return rt
	}
	// A contained resource shares its container's %rootResource; any other
	// (a Bundle entry's, a Parameters part's) is a root of its own.
	root := obj
	if v.containing {
		root = v.root()
	}
	v.containing = false
	v.resources = append(v.resources, obj)
	v.roots = append(v.roots, root)
	defer func() {
		v.resources, v.roots = v.resources[:len(v.resources)-1], v.roots[:len(v.roots)-1]
	}()
	v.object(obj, sd.tree(), p, true)
	v.invariants(sd.tree(), obj, p, false)
	v.containedReferred(obj, p)
	v.profiles(obj, rt, p)
	return rt
}

// object checks the members of obj against the children of e, then the
// cardinality of each child.
func (v *validator) object(obj map[string]any, e *elem, p *path, isResource bool) {
	if len(obj) == 0 {
		v.fail(p, "value", "an element must not be empty")
		return
	}
	for key, val := range obj {
		if isResource && key == "resourceType" {
			continue
		}
		name, isExt := strings.CutPrefix(key, "_")
		k := e.byKey[name]
		if k == nil {
			if c := e.choiceOf(name); c != nil {
				v.fail(&path{parent: p, name: key}, "structure", "%s: %s is not one of the types this choice allows", c.path, strings.TrimPrefix(name, c.name))
				continue
			}
			// Real data carries elements of later versions (Period.stop,
			// Attachment.link); JSON readers may ignore them, and the
			// client's JSON is kept as sent.
			v.warn(&path{parent: p, name: key}, "structure", "unknown element %q is kept but not understood", key)
			continue
		}
		typ := e.typeOf(k, name)
		at := v.at(p, k.name, 0)
		if k.choice {
			at.name = k.name + ".ofType(" + typ + ")"
		}
		if isExt {
			v.primitiveExtension(k, typ, val, obj[name], at)
			continue
		}
		var ext any
		if k.choice {
			ext = obj["_"+name]
		} else {
			ext = obj[k.extKey(0)]
		}
		v.member(k, typ, val, ext, at)
	}
	for _, k := range e.kids {
		if k.choice {
			v.oneChoice(obj, k, p)
		}
		if k.min == 0 && k.max != 0 {
			continue
		}
		n := count(obj, k)
		switch {
		case n < k.min:
			v.fail(&path{parent: p, name: k.name}, "required", "%s: at least %d required, %d present", k.path, k.min, n)
		case k.max >= 0 && n > k.max:
			v.fail(&path{parent: p, name: k.name}, "structure", "%s: at most %d allowed, %d present", k.path, k.max, n)
		}
	}
}

// oneChoice refuses two values of one choice element (valueString and
// valueBoolean side by side): a choice holds one value of one type.
func (v *validator) oneChoice(obj map[string]any, k *elem, p *path) {
	var present []string
	for i, name := range k.keys {
		if obj[name] != nil || obj[k.extKey(i)] != nil {
			present = append(present, name)
		}
	}
	if len(present) > 1 {
		slices.Sort(present)
		v.fail(&path{parent: p, name: k.name}, "structure", "%s: one value of one type only, but %s are present",
			k.path, strings.Join(present, " and "))
	}
}

// choiceOf is the choice child whose name prefixes name with a type
// suffix (effectiveBoolean under effective[x]), or nil.
func (e *elem) choiceOf(name string) *elem {
	for _, k := range e.kids {
		if rest, ok := strings.CutPrefix(name, k.name); k.choice && ok && rest != "" && rest[0] >= 'A' && rest[0] <= 'Z' {
			return k
		}
	}
	return nil
}

// typeOf is the type of the child k as found under JSON name.
func (e *elem) typeOf(k *elem, name string) string {
	if k.choice {
		return e.keyType[name]
	}
	if len(k.types) == 0 {
		return "" // a contentReference: its element has the type
	}
	return k.types[0].Code
}

// count is how many values obj holds for k, a primitive's value and its
// extension object counting once.
func count(obj map[string]any, k *elem) int {
	n := 0
	for i, name := range k.keys {
		a, b := length(obj[name]), length(obj[k.extKey(i)])
		n += max(a, b)
	}
	return n
}

func length(v any) int {
	switch x := v.(type) {
	case nil:
		return 0
	case []any:
		return len(x)
	}
	return 1
}

// member checks the value(s) of one child: an array when the element
// repeats, a single value when it does not.
func (v *validator) member(k *elem, typ string, val, ext any, p *path) {
	if !k.array {
		if _, isList := val.([]any); isList {
			v.fail(p, "structure", "%s does not repeat: expected a single value, not an array", k.path)
			return
		}
		v.value(k, typ, val, p)
		return
	}
	list, ok := val.([]any)
	if !ok {
		v.fail(p, "structure", "%s repeats: expected an array", k.path)
		return
	}
	if len(list) == 0 {
		v.fail(p, "value", "an array must not be empty")
		return
	}
	exts, _ := ext.([]any)
	for i, item := range list {
		if item == nil && i < len(exts) && exts[i] != nil && v.d.prims[typ] != nil {
			continue // the value is absent, its extensions are in _name
		}
		v.value(k, typ, item, v.at(p, "", i))
	}
}

// value checks one value of element k, of type typ.
func (v *validator) value(k *elem, typ string, val any, p *path) {
	if val == nil {
		v.fail(p, "structure", "null is not allowed here")
		return
	}
	if prim := v.d.prims[typ]; prim != nil {
		if v.primitive(typ, prim, val, p) {
			v.bind(k, typ, val, p)
			if k.evaluates() {
				v.invariants(k, fhirpath.Node{Value: val, Type: typ}, p, false)
			}
		}
		return
	}
	if sys, ok := strings.CutPrefix(typ, "http://hl7.org/fhirpath/System."); ok {
		v.system(sys, val, p)
		return
	}
	obj, ok := val.(map[string]any)
	if !ok {
		v.fail(p, "structure", "%s: expected an object", k.path)
		return
	}
	if typ == "Resource" || typ == "DomainResource" {
		v.containing = k.name == "contained"
		v.resource(obj, p)
		return
	}
	kids := k
	if len(k.kids) == 0 {
		kids = v.kidsOf(k, typ)
		if kids == nil {
			v.fail(p, "structure", "%s: no definition of type %q", k.path, typ)
			return
		}
	}
	v.object(obj, kids, p, false)
	v.bind(k, typ, val, p)
	v.invariants(k, obj, p, false)
	if kids != k && k.ref == "" {
		v.typeRules(typ, obj, p)
	}
}

// kidsOf finds the element whose children a value of k takes: the one a
// contentReference names, or the root of its data type's definition.
func (v *validator) kidsOf(k *elem, typ string) *elem {
	if k.ref != "" {
		return k.sd.find(k.ref[strings.IndexByte(k.ref, '#')+1:])
	}
	if sd := v.d.Base(typ); sd != nil {
		return sd.tree()
	}
	return nil
}

// primitive checks a primitive value's JSON form and its type's pattern.
func (v *validator) primitive(typ string, prim *primitive, val any, p *path) bool {
	var text string
	switch prim.json {
	case "boolean":
		if _, ok := val.(bool); !ok {
			v.fail(p, "value", "expected true or false")
			return false
		}
		return true
	case "number":
		n, ok := val.(json.Number)
		if !ok {
			v.fail(p, "value", "expected a number (%s)", typ)
			return false
		}
		text = string(n)
		if typ != "decimal" {
			i, err := strconv.ParseInt(text, 10, 32)
			switch {
			case err != nil:
				v.fail(p, "value", "expected an integer (%s), got %s", typ, text)
				return false
			case typ == "positiveInt" && i < 1, typ == "unsignedInt" && i < 0:
				v.fail(p, "value", "%s is not a valid %s", text, typ)
				return false
			}
			return true
		}
	default:
		s, ok := val.(string)
		if !ok {
			v.fail(p, "value", "expected a string (%s)", typ)
			return false
		}
		if s == "" {
			v.fail(p, "value", "a %s must not be empty", typ)
			return false
		}
		text = s
	}
	if fast, ok := fastChecks[typ]; ok {
		if !fast(text) {
			v.fail(p, "value", "%q is not a valid %s", clip(text), typ)
			return false
		}
		return true
	}
	if prim.pattern != nil && !prim.pattern.MatchString(text) {
		v.fail(p, "value", "%q is not a valid %s", clip(text), typ)
		return false
	}
	if inRange, ok := rangeChecks[typ]; ok && !inRange(text) {
		v.fail(p, "value", "%q is out of range for a %s", clip(text), typ)
		return false
	}
	return true
}

// clip keeps a bad value short in a message.
func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// system checks a value of one of FHIRPath's own types (Element.id,
// Extension.url).
func (v *validator) system(typ string, val any, p *path) {
	switch typ {
	case "Boolean":
		if _, ok := val.(bool); !ok {
			v.fail(p, "value", "expected true or false")
		}
	case "Integer", "Decimal":
		if _, ok := val.(json.Number); !ok {
			v.fail(p, "value", "expected a number")
		}
	default:
		if s, ok := val.(string); !ok || s == "" {
			v.fail(p, "value", "expected a non-empty string")
		}
	}
}

// primitiveExtension checks _name, the id and extensions of primitive
// element name: an object, or an array aligned with name's values.
func (v *validator) primitiveExtension(k *elem, typ string, val, values any, p *path) {
	if v.d.prims[typ] == nil {
		v.fail(p, "structure", "%s is not a primitive element and has no _%s", k.path, k.name)
		return
	}
	element := v.d.Base("Element").tree()
	check := func(x any, at *path) {
		obj, ok := x.(map[string]any)
		if !ok {
			v.fail(at, "structure", "_%s must hold objects", k.name)
			return
		}
		v.object(obj, element, at, false)
	}
	if !k.array {
		check(val, p)
		return
	}
	list, ok := val.([]any)
	if !ok {
		v.fail(p, "structure", "_%s must be an array, as %s repeats", k.name, k.path)
		return
	}
	if vs, ok := values.([]any); ok && len(vs) != len(list) {
		v.fail(p, "structure", "_%s must have as many items as %s", k.name, k.name)
	}
	for i, x := range list {
		if x != nil {
			check(x, &path{parent: p, index: i})
		}
	}
}

// bind checks a coded value against the element's binding: outside a
// required value set is an error, outside an extensible or preferred one
// a warning. Value sets that cannot be enumerated here are not checked.
func (v *validator) bind(k *elem, typ string, val any, p *path) {
	b := k.binding
	if b == nil || b.strength == "example" {
		return
	}
	in := v.membership(b, typ, val)
	if in != notMember {
		return
	}
	if obj, _ := val.(map[string]any); typ == "CodeableConcept" && obj["coding"] == nil && b.strength != "required" {
		return // text alone is what an extensible binding allows when no code fits
	}
	if b.strength == "required" {
		v.fail(p, "code-invalid", "the code is not in the value set %s, which is required here", b.valueSet)
		return
	}
	v.warn(p, "code-invalid", "the code is not in the value set %s (%s binding)", b.valueSet, b.strength)
}

func (v *validator) membership(b *binding, typ string, val any) membership {
	switch typ {
	case "code", "string", "uri":
		s, _ := val.(string)
		return v.d.terms.contains(b.pkg, b.valueSet, "", s)
	case "Coding":
		return v.coding(b, val)
	case "CodeableConcept":
		obj, _ := val.(map[string]any)
		codings, _ := obj["coding"].([]any)
		verdict := notMember
		for _, c := range codings {
			switch v.coding(b, c) {
			case member:
				return member
			case unknown:
				verdict = unknown
			}
		}
		if len(codings) == 0 && v.d.terms.expand(b.pkg, b.valueSet) == nil {
			return unknown
		}
		return verdict
	}
	return unknown
}

func (v *validator) coding(b *binding, val any) membership {
	obj, _ := val.(map[string]any)
	system, _ := obj["system"].(string)
	code, _ := obj["code"].(string)
	if code == "" {
		return notMember
	}
	return v.d.terms.contains(b.pkg, b.valueSet, system, code)
}
