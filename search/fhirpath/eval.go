package fhirpath

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"sync"
)

// Node is one item of a collection: a JSON value and, where JSON tells it,
// its FHIR type (the resourceType of a resource, the suffix of a choice
// element, the type of a literal or of what resolve() found).
type Node struct {
	Value any
	Type  string
	// Ext is, for a primitive, its companion object in FHIR JSON (the
	// "_birthDate" beside "birthDate") holding its id and extensions; nil
	// when there is none. Only EvaluateOn and Check navigate to these (and
	// then to primitives that have extensions but no value, whose Value is
	// nil); Evaluate never sets it.
	Ext map[string]any
}

// Expression is a compiled FHIRPath expression; it is safe for concurrent use.
type Expression struct {
	src  string
	root expr
}

func (x *Expression) String() string { return x.src }

// Env is what an invariant sees besides its focus: the resource that holds
// the element (%resource) and the outermost resource (%rootResource, which
// differs for a contained resource or a Bundle entry). A nil Resource is
// the focus when the focus is a resource; a nil RootResource is Resource.
type Env struct {
	Resource, RootResource map[string]any
}

// env is what an evaluation sees besides its focus.
type env struct {
	resource Node   // %resource
	root     Node   // %rootResource, and the scope of resolve() for contained references
	context  []Node // %context
	this     []Node // $this
	index    int    // $index
	// invariant selects the behaviour of EvaluateOn: primitives carry
	// their _name companions, and untyped JSON values match the types
	// their shape allows. Evaluate (search) keeps it off.
	invariant bool
	arena     []Node // the chunk single-node results are cut from
	used      int
}

var envs = sync.Pool{New: func() any { return &env{arena: make([]Node, arenaSize)} }}

const arenaSize = 64

// one answers a collection of one node without a heap allocation (most
// of the time): it is cut from the evaluation's arena, with its capacity
// limited so that an append copies instead of overwriting a neighbour.
func (e *env) one(n Node) []Node {
	if e.used == len(e.arena) {
		e.arena = make([]Node, arenaSize)
		e.used = 0
	}
	i := e.used
	e.arena[i] = n
	e.used++
	return e.arena[i : i+1 : i+1]
}

func (e *env) release() {
	clear(e.arena[:e.used])
	e.used = 0
	*e = env{arena: e.arena}
	envs.Put(e)
}

// Evaluate runs the expression with resource as its context, as a search
// parameter expression: %resource, %rootResource and %context are the
// resource, and primitives' extensions (_name) are not seen.
func (x *Expression) Evaluate(resource map[string]any) ([]Node, error) {
	root := resourceNode(resource)
	e := &env{resource: root, root: root, arena: make([]Node, 8)}
	e.this = e.one(root)
	e.context = e.this
	return x.root.eval(e, e.this)
}

// EvaluateFunc is Evaluate with the result handed to fn instead of
// returned: the nodes are valid only until fn returns (their values are
// the resource's own), so that the evaluation's working memory is reused
// rather than allocated for each call. Search index extraction evaluates
// every parameter of a type on every resource written this way.
func (x *Expression) EvaluateFunc(resource map[string]any, fn func([]Node)) error {
	e := envs.Get().(*env)
	root := resourceNode(resource)
	e.resource, e.root = root, root
	e.this = e.one(root)
	e.context = e.this
	r, err := x.root.eval(e, e.this)
	if err == nil {
		fn(r)
	}
	e.release()
	return err
}

// EvaluateOn runs the expression as a FHIR invariant (a constraint of a
// StructureDefinition) on focus, the element the constraint sits on: a
// resource, a complex element (map[string]any), a primitive value, or a
// Node, which is how a caller gives a primitive its FHIR type (Type
// "code") and its `_name` object (Ext). %context and $this are the focus;
// %resource and %rootResource come from env. Primitives found by
// navigation carry their `_name` objects, so that hasValue(), extension
// and id see them. The result is read-only for the caller.
func (x *Expression) EvaluateOn(focus any, env Env) ([]Node, error) {
	e := newInvariantEnv(focus, env)
	defer e.release()
	r, err := x.root.eval(e, e.this)
	if err != nil || len(r) == 0 {
		return nil, err
	}
	return append([]Node(nil), r...), nil
}

// Check is EvaluateOn followed by Truthy, without allocating for the
// result: result and empty are as Truthy reports them.
func (x *Expression) Check(focus any, env Env) (result, empty bool, err error) {
	e := newInvariantEnv(focus, env)
	defer e.release()
	r, err := x.root.eval(e, e.this)
	if err != nil {
		return false, false, err
	}
	result, empty = Truthy(r)
	return result, empty, nil
}

func newInvariantEnv(focus any, ev Env) *env {
	e := envs.Get().(*env)
	e.invariant = true
	var n Node
	switch v := focus.(type) {
	case Node:
		n = v
	case map[string]any:
		n = resourceNode(v)
	default:
		n = Node{Value: v}
	}
	if n.Value != nil || n.Ext != nil {
		e.this = e.one(n)
	}
	e.context = e.this
	res := ev.Resource
	if res == nil {
		if m, ok := n.Value.(map[string]any); ok && n.Type != "" && isResourceType(n.Type) {
			res = m
		}
	}
	if res != nil {
		e.resource = resourceNode(res)
	}
	e.root = e.resource
	if ev.RootResource != nil {
		e.root = resourceNode(ev.RootResource)
	}
	return e
}

// Truthy is FHIRPath's boolean evaluation of a result, which FHIR applies
// to an invariant (it holds when true): a single boolean is its value, any
// other single item is true; empty reports an empty collection, for which
// result is false. FHIRPath makes an empty result "unknown": a validator
// should not report a violation for it (ref-1 on a Reference without a
// reference, for one, is empty). A collection of several items is an error
// in FHIRPath; Truthy answers true for it.
func Truthy(nodes []Node) (result bool, empty bool) {
	v, known := truth(nodes)
	return v, !known
}

func resourceNode(m map[string]any) Node {
	t, _ := m["resourceType"].(string)
	return Node{Value: m, Type: t}
}

// child navigates to the elements called name, flattening arrays; a choice
// element (value[x]) is found under its typed name and gets that type. In
// an invariant, a primitive takes its `_name` object along, and a primitive
// with only that object is found as a node without a value.
type child struct {
	name, ext string // name, "_"+name
}

func newChild(name string) *child { return &child{name: name, ext: "_" + name} }

func (c *child) eval(e *env, focus []Node) ([]Node, error) {
	if len(focus) == 1 {
		return c.from(e, nil, focus[0], true)
	}
	var out []Node
	for _, n := range focus {
		out, _ = c.from(e, out, n, false)
	}
	return out, nil
}

// from appends the children of n called c.name to out; single lets it
// answer a lone result from the arena.
func (c *child) from(e *env, out []Node, n Node, single bool) ([]Node, error) {
	m, ok := n.Value.(map[string]any)
	if !ok {
		if m = n.Ext; m == nil {
			return out, nil
		}
	}
	v, ok := m[c.name]
	var x any
	if e.invariant {
		x = m[c.ext]
	}
	if ok || x != nil {
		if single {
			if _, isArray := v.([]any); !isArray && x == nil {
				if v == nil {
					return nil, nil
				}
				return e.one(typedNode(v, "")), nil
			}
		}
		return appendPaired(out, v, x, ""), nil
	}
	if !choiceNames[c.name] {
		return out, nil
	}
	// a choice element, under one of its typed names
	for k, v := range m {
		if t, ok := choiceType(k, c.name); ok {
			var x any
			if e.invariant && primitiveTypes[t] {
				x = m["_"+k]
			}
			out = appendPaired(out, v, x, t)
		} else if e.invariant && len(k) > 1 && k[0] == '_' {
			if t, ok := choiceType(k[1:], c.name); ok {
				if _, hasValue := m[k[1:]]; !hasValue {
					out = appendPaired(out, nil, v, t)
				}
			}
		}
	}
	return out, nil
}

// appendPaired adds v, or each item of an array v, as nodes, with the
// matching `_name` object (or item of its array) x; resources carry their
// resourceType as type.
func appendPaired(out []Node, v, x any, typ string) []Node {
	if a, ok := v.([]any); ok {
		xs, _ := x.([]any)
		for i, item := range a {
			var xi map[string]any
			if i < len(xs) {
				xi, _ = xs[i].(map[string]any)
			}
			if nested, ok := item.([]any); ok {
				out = appendPaired(out, nested, nil, typ)
				continue
			}
			if item != nil || xi != nil {
				n := typedNode(item, typ)
				n.Ext = xi
				out = append(out, n)
			}
		}
		for i := len(a); i < len(xs); i++ { // a _name array longer than the values
			if xi, ok := xs[i].(map[string]any); ok {
				out = append(out, Node{Type: typ, Ext: xi})
			}
		}
		return out
	}
	if xs, ok := x.([]any); ok && v == nil { // values all null: given is absent, _given is not
		for _, xi := range xs {
			if m, ok := xi.(map[string]any); ok {
				out = append(out, Node{Type: typ, Ext: m})
			}
		}
		return out
	}
	xm, _ := x.(map[string]any)
	if v == nil && xm == nil {
		return out
	}
	n := typedNode(v, typ)
	n.Ext = xm
	return append(out, n)
}

// appendValue adds v, or each item of an array v, as nodes.
func appendValue(out []Node, v any, typ string) []Node { return appendPaired(out, v, nil, typ) }

func typedNode(v any, typ string) Node {
	if m, ok := v.(map[string]any); ok && typ == "" {
		if rt, ok := m["resourceType"].(string); ok {
			typ = rt
		}
	}
	return Node{Value: v, Type: typ}
}

// choiceType says whether key is name[x] for a FHIR type, and which.
func choiceType(key, name string) (string, bool) {
	if len(key) <= len(name) || !strings.HasPrefix(key, name) {
		return "", false
	}
	suffix := key[len(name):]
	if suffix[0] < 'A' || suffix[0] > 'Z' {
		return "", false
	}
	if p, ok := lowerFirst[suffix]; ok {
		return p, true
	}
	if complexTypes[suffix] {
		return suffix, true
	}
	return "", false
}

// first is an identifier at the start of a path: a type name (it starts
// with a capital) keeps the focus items of that type, an element name
// navigates from the focus.
type first struct {
	name  string
	child *child
}

func (f *first) eval(e *env, focus []Node) ([]Node, error) {
	if f.name[0] >= 'A' && f.name[0] <= 'Z' {
		all := true
		for _, n := range focus {
			all = all && isA(n.Type, f.name)
		}
		if all {
			return focus, nil
		}
		var out []Node
		for _, n := range focus {
			if isA(n.Type, f.name) {
				out = append(out, n)
			}
		}
		return out, nil
	}
	return f.child.eval(e, focus)
}

// chain applies steps one after the other, starting from base.
type chain struct {
	base  expr
	steps []expr
}

func (c *chain) eval(e *env, focus []Node) ([]Node, error) {
	cur, err := c.base.eval(e, focus)
	for _, s := range c.steps {
		if err != nil {
			break
		}
		cur, err = s.eval(e, cur)
	}
	return cur, err
}

// fuse replaces X.count() by a count that does not build X, where X is a
// child or children().
func (c *chain) fuse() {
	n := len(c.steps)
	if n == 0 {
		return
	}
	f, ok := c.steps[n-1].(*function)
	if !ok || f.name != "count" {
		return
	}
	var prev expr = c.base
	if n >= 2 {
		prev = c.steps[n-2]
	}
	var counter expr
	switch p := prev.(type) {
	case *child:
		counter = &countChild{c: p}
	case *first:
		if p.name[0] < 'A' || p.name[0] > 'Z' {
			counter = &countChild{c: p.child}
		}
	case *function:
		if p.name == "children" {
			counter = countChildren{}
		}
	}
	if counter == nil {
		return
	}
	if n == 1 {
		c.base, c.steps = counter, nil
		return
	}
	c.steps = append(c.steps[:n-2:n-2], counter)
}

type indexer struct{ index expr }

func (x *indexer) eval(e *env, focus []Node) ([]Node, error) {
	ix, err := x.index.eval(e, e.this)
	if err != nil || len(ix) != 1 {
		return nil, err
	}
	i, ok := integerOf(ix[0])
	if !ok || i < 0 || i >= len(focus) {
		return nil, nil
	}
	return focus[i : i+1 : i+1], nil
}

type union struct{ l, r expr }

// eval merges both sides without duplicates (by identity for elements,
// by value for primitives).
func (u *union) eval(e *env, focus []Node) ([]Node, error) {
	l, r, err := both(e, focus, u.l, u.r)
	if err != nil {
		return nil, err
	}
	return unionOf(l, r, e.invariant), nil
}

// unionOf merges l and r without duplicates. Evaluate (search) keeps
// duplicates within l, as it always has; an invariant removes them all.
func unionOf(l, r []Node, full bool) []Node {
	out := make([]Node, 0, len(l)+len(r))
	var s seen
	large := len(l)+len(r) > 32
	for i, side := range [2][]Node{l, r} {
		for _, n := range side {
			if large {
				if s.add(n) || i == 0 && !full {
					out = append(out, n)
				}
				continue
			}
			if i == 0 && !full || !containsNode(out, n) {
				out = append(out, n)
			}
		}
	}
	return out
}

func containsNode(ns []Node, n Node) bool {
	for _, m := range ns {
		if sameNode(m, n) {
			return true
		}
	}
	return false
}

func sameNode(a, b Node) bool {
	switch av := a.Value.(type) {
	case map[string]any:
		bv, ok := b.Value.(map[string]any)
		return ok && reflect.ValueOf(av).UnsafePointer() == reflect.ValueOf(bv).UnsafePointer()
	case []any:
		return false
	case nil:
		return a.Ext != nil && b.Value == nil && reflect.ValueOf(a.Ext).UnsafePointer() == reflect.ValueOf(b.Ext).UnsafePointer()
	default:
		eq, ok := equal(a, b)
		return ok && eq
	}
}

// primitiveKey is a map key equal for equal primitives (numbers by their
// value, so 1 and 1.0 meet).
func primitiveKey(n Node) (string, bool) {
	switch v := n.Value.(type) {
	case string:
		return "s" + v, true
	case bool:
		if v {
			return "btrue", true
		}
		return "bfalse", true
	case json.Number:
		if f, ok := numberOf(n); ok {
			return fmt.Sprintf("n%g", f), true
		}
	}
	return "", false
}

// literal is a constant collection, built once.
type literal struct{ ns []Node }

func newLiteral(ns ...Node) literal { return literal{ns: ns[:len(ns):len(ns)]} }

func (l literal) eval(*env, []Node) ([]Node, error) { return l.ns, nil }

type variable string

func (v variable) eval(e *env, _ []Node) ([]Node, error) {
	switch v {
	case "$this":
		return e.this, nil
	case "$index":
		return e.one(integerNode(e.index)), nil
	case "$total":
		return nil, nil
	case "%context":
		return e.context, nil
	case "%rootResource":
		if e.root.Value == nil {
			return nil, nil
		}
		return e.one(e.root), nil
	}
	if e.resource.Value == nil {
		return nil, nil
	}
	return e.one(e.resource), nil
}

// negate is unary minus.
type negate struct{ x expr }

func (g *negate) eval(e *env, focus []Node) ([]Node, error) {
	r, err := g.x.eval(e, focus)
	if err != nil || len(r) == 0 {
		return nil, err
	}
	if len(r) > 1 {
		return nil, fmt.Errorf("unary minus on %d items", len(r))
	}
	return arithmetic(e, "-", Node{Value: json.Number("0"), Type: "integer"}, r[0])
}

// typeFilter is `is T`, `as T` and the functions is(), as(), ofType().
type typeFilter struct {
	name string
	mode string // is, as, ofType
}

func (t *typeFilter) eval(e *env, focus []Node) ([]Node, error) {
	if t.mode == "is" {
		if len(focus) != 1 {
			return nil, nil
		}
		return boolean(e.isType(focus[0], t.name)), nil
	}
	all := true
	for _, n := range focus {
		all = all && e.isType(n, t.name) && n.Type != ""
	}
	if all {
		return focus, nil
	}
	var out []Node
	for _, n := range focus {
		if e.isType(n, t.name) {
			if n.Type == "" {
				n.Type = fhirName(t.name)
			}
			out = append(out, n)
		}
	}
	return out, nil
}
