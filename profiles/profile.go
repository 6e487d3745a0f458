package profiles

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"sync"

	"github.com/fhirserver/fhirserver/search/fhirpath"
)

// node is an element of a profile: its constraints, its children and, when
// it is sliced, its slices, each a node of its own.
type node struct {
	e         *elem
	sliceName string
	kids      []*node
	slicing   *slicing
	slices    []*node

	activeOnce sync.Once
	active     []*node // the kids conform walks (activeKids)
}

type slicing struct {
	discriminators []discriminator
	closed         bool
}

type discriminator struct{ kind, path string }

var profileTrees sync.Map // *StructureDefinition -> *node

// profileTree compiles a constraining definition, slices included.
func (sd *StructureDefinition) profileTree() *node {
	if n, ok := profileTrees.Load(sd); ok {
		return n.(*node)
	}
	byID := map[string]*node{}
	var root *node
	for i := range sd.Snapshot.Element {
		ed := &sd.Snapshot.Element[i]
		n := &node{e: newElem(sd, ed), sliceName: ed.SliceName}
		if ed.Slicing != nil {
			n.slicing = &slicing{closed: ed.Slicing.Rules == "closed"}
			for _, d := range ed.Slicing.Discriminator {
				n.slicing.discriminators = append(n.slicing.discriminators, discriminator{d.Type, d.Path})
			}
		}
		byID[ed.ID] = n
		id := ed.ID
		dot, colon := strings.LastIndexByte(id, '.'), strings.LastIndexByte(id, ':')
		switch {
		case colon > dot:
			if base := byID[id[:colon]]; base != nil {
				base.slices = append(base.slices, n)
			}
		case dot < 0:
			root = n
		default:
			if parent := byID[id[:dot]]; parent != nil {
				parent.kids = append(parent.kids, n)
			}
		}
	}
	n, _ := profileTrees.LoadOrStore(sd, root)
	return n.(*node)
}

// profiles checks a resource against the profiles it claims in
// meta.profile. Their issues are kept apart: a resource that is valid R4
// but does not conform to a profile it claims is unprocessable (422), not
// malformed (400).
func (v *validator) profiles(obj map[string]any, typ string, p *path) {
	meta, _ := obj["meta"].(map[string]any)
	list, _ := meta["profile"].([]any)
	var urls []string
	for _, c := range list {
		url, _ := c.(string)
		urls = append(urls, url)
	}
	v.claimed(obj, typ, p, urls)
}

// claimed checks obj against each profile url. A URL with a "|version"
// is held to that version; one without passes when obj conforms to any
// version held, since real data claims profiles by URL alone and was
// written to whichever version was current.
func (v *validator) claimed(obj map[string]any, typ string, p *path, urls []string) {
	for i, url := range urls {
		at := &path{parent: &path{parent: &path{parent: p, name: "meta"}, name: "profile"}, index: i}
		versions := v.d.Versions(url)
		switch {
		case len(versions) == 0:
			v.unknownProfile(at, url)
			continue
		case versions[0].Type != typ:
			v.conformance(at, "invalid", "the profile %s is for %s, not %s", url, versions[0].Type, typ)
			continue
		}
		v.conformAny(obj, versions, p)
	}
}

func (v *validator) unknownProfile(at *path, url string) {
	detail := ""
	if base, _, versioned := strings.Cut(url, "|"); versioned {
		if held := v.d.ProfileVersions(base); len(held) > 0 {
			detail = " (versions held: " + strings.Join(held, ", ") + ")"
		}
	}
	if v.opts.Strict {
		v.conformance(at, "not-supported", "the profile %s is not known here%s", url, detail)
		return
	}
	v.issue("warning", at, "not-supported", "the profile %s is not known here%s, so the resource was not checked against it", url, detail)
}

// conformAny holds obj to the first of versions (newest first) it
// conforms to. Conforming to none, it reports the issues of the version
// with the fewest, the newest of those that tie, each naming that
// version: "canonical|version: what is wrong".
func (v *validator) conformAny(obj map[string]any, versions []*StructureDefinition, p *path) {
	var best *validator
	var bestSD *StructureDefinition
	for _, sd := range versions {
		probe := &validator{d: v.d, opts: Options{Strict: v.opts.Strict},
			resources: slices.Clone(v.resources), roots: slices.Clone(v.roots), arena: v.arena}
		probe.conform(obj, sd.profileTree(), p)
		if len(probe.unprocessable) == 0 {
			v.warnings = append(v.warnings, probe.warnings...)
			return
		}
		if best == nil || len(probe.unprocessable) < len(best.unprocessable) {
			best, bestSD = probe, sd
		}
	}
	for _, is := range best.unprocessable {
		is.Diagnostics = bestSD.Canonical() + ": " + is.Diagnostics
		if v.opts.Lenient {
			is.Severity = "warning"
			v.warnings = append(v.warnings, is)
		} else {
			v.unprocessable = append(v.unprocessable, is)
		}
	}
	v.errors = append(v.errors, best.errors...)
	v.warnings = append(v.warnings, best.warnings...)
}

// Canonical is the definition's URL with its version, as "url|version".
func (sd *StructureDefinition) Canonical() string {
	if sd.Version == "" {
		return sd.URL
	}
	return sd.URL + "|" + sd.Version
}

// conform checks an object against the children a profile defines for it.
func (v *validator) conform(obj map[string]any, n *node, p *path) {
	for _, k := range v.d.activeKids(n) {
		v.constrain(k, v.valuesOf(obj, k, p), p)
	}
	v.invariants(n.e, obj, p, true)
}

// activeKids are the kids of n that hold a value to more than the base
// definition does. A snapshot names every element of its resource,
// constrained or not, and walking the others repeated the base walk's
// checks: most of the time spent on claimed profiles. Worked out once a
// node (TestInertProfileElementsChangeNoVerdict).
func (d *Definitions) activeKids(n *node) []*node {
	if !pruneInert {
		return n.kids
	}
	n.activeOnce.Do(func() {
		for _, k := range n.kids {
			if !d.inert(k) {
				n.active = append(n.active, k)
			}
		}
	})
	return n.active
}

// pruneInert is off only in the test that holds pruned and whole walks to
// the same verdicts.
var pruneInert = true

// inert tells whether conforming to k checks nothing the base walk does
// not: the base's cardinality and types, no fixed value, pattern or
// slicing, no required binding the base lacks, no type profile, no
// invariant of the profile's own, and only inert kids. A count the base
// requires too is then reported once, by the base walk, not again as the
// profile's.
func (d *Definitions) inert(k *node) bool {
	e := k.e
	if k.slicing != nil || len(k.slices) > 0 || e.fixed != nil || e.pattern != nil {
		return false
	}
	base := d.baseElem(e)
	if base == nil || e.min != base.min || e.max != base.max || !sameTypes(e.types, base.types) {
		return false
	}
	if d.addsBinding(e) {
		return false
	}
	for _, t := range e.types {
		if len(t.Profile) > 0 {
			return false
		}
	}
	for _, r := range e.rules {
		if !r.base && !nativeRules[r.key] {
			return false
		}
	}
	return len(d.activeKids(k)) == 0
}

func sameTypes(a, b []typeRef) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Code != b[i].Code {
			return false
		}
	}
	return true
}

// item is one value an element holds, with its type and path.
type item struct {
	val  any
	typ  string
	path *path
}

// valuesOf lists the values obj holds for element k; a choice's values of
// types the profile does not allow are reported.
func (v *validator) valuesOf(obj map[string]any, k *node, parent *path) []item {
	e := k.e
	if !e.choice {
		var extName string
		if len(e.keys) == 1 && e.keys[0] == e.name {
			extName = e.extKey(0)
		} else {
			extName = "_" + e.name
		}
		val, ext := obj[e.name], obj[extName]
		if val == nil && ext == nil {
			return nil // most elements a profile names are absent: no path made
		}
		typ := ""
		if len(e.types) > 0 {
			typ = e.types[0].Code
		}
		return v.items(nil, val, ext, typ, v.at(parent, e.name, 0))
	}
	var out []item
	for key := range obj {
		if name, ok := strings.CutPrefix(key, "_"); ok && obj[name] != nil {
			continue // counted with its value
		}
		rest, ok := strings.CutPrefix(strings.TrimPrefix(key, "_"), e.name)
		if !ok || rest == "" || rest[0] < 'A' || rest[0] > 'Z' {
			continue
		}
		typ := typeCode(e, rest)
		at := v.at(parent, e.name+".ofType("+typ+")", 0)
		if typ == "" {
			shown := rest
			if lower := strings.ToLower(rest[:1]) + rest[1:]; v.d.prims[lower] != nil {
				shown = lower
			}
			at.name = e.name + ".ofType(" + shown + ")"
			if isChoiceOf(v.d, e, key) {
				v.conformance(at, "structure", "%s: the type %s is not allowed by the profile", e.id(), shown)
			}
			continue
		}
		name := strings.TrimPrefix(key, "_")
		if val, ext := obj[name], obj["_"+name]; val != nil || ext != nil {
			out = v.items(out, val, ext, typ, at)
		}
	}
	return out
}

// items appends the values an element holds (val, or its extensions ext
// alone) at path at: an array's each under its index.
func (v *validator) items(out []item, val, ext any, typ string, at *path) []item {
	if list, ok := val.([]any); ok {
		out = slices.Grow(out, len(list))
		for i, x := range list {
			out = append(out, item{x, typ, v.at(at, "", i)})
		}
		return out
	}
	if val == nil {
		val = ext
	}
	return append(out, item{val, typ, at})
}

// typeCode is the type of e whose JSON suffix is rest, or "".
func typeCode(e *elem, rest string) string {
	for _, t := range e.types {
		if strings.EqualFold(t.Code, rest) {
			return t.Code
		}
	}
	return ""
}

// isChoiceOf reports whether key names a value of the base choice element
// e restricts, so that another member (valueSet under value[x]?) is not
// mistaken for one.
func isChoiceOf(d *Definitions, e *elem, key string) bool {
	if base := d.baseElem(e); base != nil {
		return base.choice
	}
	// An element inside a data type (Extension.extension.value[x]): any
	// FHIR type's name makes a choice value.
	rest := key[strings.Index(key, e.name)+len(e.name):]
	return d.Base(rest) != nil || d.Base(strings.ToLower(rest[:1])+rest[1:]) != nil
}

// constrain checks the values of one element against its profile: count,
// slices, fixed and pattern values, bindings, type profiles, children.
func (v *validator) constrain(k *node, items []item, parent *path) {
	e := k.e
	at := &path{parent: parent, name: e.name}
	switch {
	case len(items) < e.min:
		v.conformance(at, "required", "%s: at least %d required by the profile, %d present", e.id(), e.min, len(items))
	case e.max >= 0 && len(items) > e.max:
		v.conformance(at, "structure", "%s: at most %d allowed by the profile, %d present", e.id(), e.max, len(items))
	}
	for _, it := range items {
		v.check(k, it)
	}
	if k.slicing != nil {
		v.slice(k, items, at)
	}
}

// check holds one value to an element's profile constraints.
func (v *validator) check(k *node, it item) {
	e := k.e
	if e.fixed != nil && !reflect.DeepEqual(normalize(it.val), normalize(e.fixed)) {
		v.conformance(it.path, "value", "%s: the value must be exactly %s", e.id(), render(e.fixed))
	}
	if e.pattern != nil && !matches(it.val, e.pattern) {
		v.conformance(it.path, "value", "%s: the value must match the pattern %s", e.id(), render(e.pattern))
	}
	if v.d.addsBinding(e) {
		if v.membership(e.binding, it.typ, it.val) == notMember {
			v.conformance(it.path, "code-invalid", "%s: the code is not in the value set %s, which the profile requires", e.id(), e.binding.valueSet)
		}
	}
	obj, isObj := it.val.(map[string]any)
	if !isObj {
		v.invariants(e, fhirpath.Node{Value: it.val, Type: it.typ}, it.path, true)
		return
	}
	for _, t := range e.types {
		for _, url := range t.Profile {
			if sd := v.d.resolve(url, e.sd.pkg); sd != nil && sd.Derivation == "constraint" {
				v.conform(obj, sd.profileTree(), it.path)
			}
		}
	}
	if len(k.kids) > 0 {
		v.conform(obj, k, it.path)
	} else {
		v.invariants(e, obj, it.path, true)
	}
}

// baseElem is the element of the base definition that a profile's
// element constrains, or nil for one inside a data type (whose path is not
// in its resource's base definition).
func (d *Definitions) baseElem(e *elem) *elem {
	root, _, _ := strings.Cut(e.path, ".")
	if sd := d.Base(root); sd != nil {
		return sd.find(e.path)
	}
	return nil
}

// addsBinding reports whether a profile's element requires a value set
// the base definition does not already require of it, so that the check
// is made once.
func (d *Definitions) addsBinding(e *elem) bool {
	if e.binding == nil || e.binding.strength != "required" {
		return false
	}
	base := d.baseElem(e)
	return base == nil || base.binding == nil || base.binding.valueSet != e.binding.valueSet || base.binding.strength != "required"
}

// slice sorts the values of a sliced element into its slices, checks each
// slice's count and each value against its slice, and refuses values no
// slice takes when the slicing is closed.
func (v *validator) slice(k *node, items []item, at *path) {
	counts := make([]int, len(k.slices))
	for _, it := range items {
		matched := false
		for i, s := range k.slices {
			if v.inSlice(k.slicing, s, it) {
				counts[i]++
				matched = true
				v.check(s, it)
				break
			}
		}
		if !matched && k.slicing.closed {
			v.conformance(it.path, "structure", "%s: the value is in none of the slices the profile allows", k.e.id())
		}
	}
	for i, s := range k.slices {
		switch {
		case counts[i] < s.e.min:
			v.conformance(at, "required", "%s: at least %d required by the profile, %d present", s.e.id(), s.e.min, counts[i])
		case s.e.max >= 0 && counts[i] > s.e.max:
			v.conformance(at, "structure", "%s: at most %d allowed by the profile, %d present", s.e.id(), s.e.max, counts[i])
		}
	}
}

// inSlice reports whether a value meets every discriminator of slice s.
func (v *validator) inSlice(sl *slicing, s *node, it item) bool {
	if len(sl.discriminators) == 0 {
		return false
	}
	for _, d := range sl.discriminators {
		if !v.discriminates(d, s, it) {
			return false
		}
	}
	return true
}

func (v *validator) discriminates(d discriminator, s *node, it item) bool {
	val := it.val
	switch d.kind {
	case "value", "pattern":
		want := expected(s, d.path)
		got := navigate(val, d.path)
		if len(want) == 0 {
			// A slice may be told by its required binding instead.
			n := target(s, d.path)
			if n == nil || n.e.binding == nil || n.e.binding.strength != "required" {
				return false
			}
			for _, g := range got {
				if v.membership(n.e.binding, typeOfValue(n.e, it, d.path), g) == member {
					return true
				}
			}
			return false
		}
		for _, g := range got {
			for _, w := range want {
				if matches(g, w) {
					return true
				}
			}
		}
		return false
	case "exists":
		return (len(navigate(val, d.path)) > 0) == (target(s, d.path) != nil && target(s, d.path).e.min > 0)
	case "type":
		typ := it.typ
		if obj, ok := val.(map[string]any); ok && obj["resourceType"] != nil {
			typ, _ = obj["resourceType"].(string)
		}
		if d.path != "$this" {
			return false // the type of a value below this one is not known here
		}
		for _, t := range s.e.types {
			if t.Code == typ {
				return true
			}
		}
		return false
	case "profile":
		obj, ok := val.(map[string]any)
		if !ok {
			return false
		}
		for _, t := range s.e.types {
			for _, url := range append(t.Profile, t.TargetProfile...) {
				sd := v.d.resolve(url, s.e.sd.pkg)
				if sd == nil {
					continue
				}
				probe := &validator{d: v.d, arena: v.arena}
				probe.conform(obj, sd.profileTree(), &path{name: "$this"})
				if len(probe.unprocessable) == 0 {
					return true
				}
			}
		}
	}
	return false
}

// typeOfValue is the type of the value a discriminator path reaches.
func typeOfValue(e *elem, it item, path string) string {
	if path == "$this" {
		return it.typ
	}
	if len(e.types) > 0 {
		return e.types[0].Code
	}
	return ""
}

// expected are the fixed or pattern values slice s sets at path (several
// when the path runs through a sliced element: the bp profile fixes
// code.coding.code in the slice coding:SBPCode), or, for an extension
// sliced by url, the url of the slice's extension profile.
func expected(s *node, path string) []any {
	var out []any
	for _, n := range targets(s, path) {
		if n.e.fixed != nil {
			out = append(out, n.e.fixed)
		} else if n.e.pattern != nil {
			out = append(out, n.e.pattern)
		}
	}
	if len(out) == 0 && path == "url" {
		for _, t := range s.e.types {
			if t.Code == "Extension" && len(t.Profile) > 0 {
				out = append(out, t.Profile[0])
			}
		}
	}
	return out
}

// target is the node at a discriminator path below s, slices aside.
func target(s *node, path string) *node {
	n := s
	for _, seg := range strings.Split(path, ".") {
		if seg == "$this" {
			continue
		}
		if n = kid(n, seg); n == nil {
			return nil
		}
	}
	return n
}

// targets are the nodes at a discriminator path below s, following both
// an element and its slices at each step.
func targets(s *node, path string) []*node {
	cur := []*node{s}
	for _, seg := range strings.Split(path, ".") {
		if seg == "$this" {
			continue
		}
		var next []*node
		for _, n := range cur {
			if k := kid(n, seg); k != nil {
				next = append(next, k)
				next = append(next, k.slices...)
			}
		}
		cur = next
	}
	return cur
}

func kid(n *node, name string) *node {
	for _, k := range n.kids {
		if k.e.name == name {
			return k
		}
	}
	return nil
}

// navigate follows a discriminator path (names, $this, extension('url'))
// from a value, flattening arrays.
func navigate(val any, path string) []any {
	cur := []any{val}
	for _, seg := range strings.Split(path, ".") {
		if seg == "$this" {
			continue
		}
		var next []any
		url, isExt := strings.CutPrefix(seg, "extension('")
		url = strings.TrimSuffix(url, "')")
		for _, c := range cur {
			obj, ok := c.(map[string]any)
			if !ok {
				continue
			}
			if isExt {
				for _, x := range flatten(obj["extension"]) {
					if xo, _ := x.(map[string]any); xo != nil && xo["url"] == url {
						next = append(next, x)
					}
				}
				continue
			}
			if x, ok := obj[seg]; ok {
				next = append(next, flatten(x)...)
				continue
			}
			for key, x := range obj { // a choice element named without its type
				if rest, ok := strings.CutPrefix(key, seg); ok && rest != "" && rest[0] >= 'A' && rest[0] <= 'Z' {
					next = append(next, flatten(x)...)
				}
			}
		}
		cur = next
	}
	return cur
}

func flatten(x any) []any {
	if list, ok := x.([]any); ok {
		return list
	}
	if x == nil {
		return nil
	}
	return []any{x}
}

// matches reports whether val carries everything pattern holds: each
// member of an object, and for an array each pattern item in some item.
func matches(val, pattern any) bool {
	switch p := pattern.(type) {
	case map[string]any:
		obj, ok := val.(map[string]any)
		if !ok {
			return false
		}
		for k, pv := range p {
			if !matches(obj[k], pv) {
				return false
			}
		}
		return true
	case []any:
		list := flatten(val)
		for _, pi := range p {
			found := false
			for _, vi := range list {
				if matches(vi, pi) {
					found = true
					break
				}
			}
			if !found {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(normalize(val), normalize(pattern))
}

// normalize makes numbers comparable by value (1.0 = 1).
func normalize(x any) any {
	if n, ok := x.(json.Number); ok {
		if f, err := n.Float64(); err == nil {
			return f
		}
	}
	return x
}

func render(x any) string {
	b, _ := json.Marshal(x)
	return clip(string(b))
}

// id names an element of a profile as its definition does.
func (e *elem) id() string {
	if e.def != nil && e.def.ID != "" {
		return e.def.ID
	}
	return e.path
}
