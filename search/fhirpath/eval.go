package fhirpath

import (
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
)

// Node is one item of a collection: a JSON value and, where JSON tells it,
// its FHIR type (the resourceType of a resource, the suffix of a choice
// element, the type of a literal or of what resolve() found).
type Node struct {
	Value any
	Type  string
}

// Expression is a compiled FHIRPath expression; it is safe for concurrent use.
type Expression struct {
	src  string
	root expr
}

func (x *Expression) String() string { return x.src }

// env is what an evaluation sees besides its focus.
type env struct {
	resource Node // %resource, and the scope of resolve() for contained references
	this     []Node
}

// Evaluate runs the expression with resource as its context.
func (x *Expression) Evaluate(resource map[string]any) ([]Node, error) {
	root := resourceNode(resource)
	e := &env{resource: root, this: []Node{root}}
	return x.root.eval(e, e.this)
}

func resourceNode(m map[string]any) Node {
	t, _ := m["resourceType"].(string)
	return Node{Value: m, Type: t}
}

// child navigates to the elements called name, flattening arrays; a choice
// element (value[x]) is found under its typed name and gets that type.
type child struct{ name string }

func (c *child) eval(_ *env, focus []Node) ([]Node, error) {
	var out []Node
	for _, n := range focus {
		m, ok := n.Value.(map[string]any)
		if !ok {
			continue
		}
		if v, ok := m[c.name]; ok {
			out = appendValue(out, v, "")
			continue
		}
		for k, v := range m {
			if t, ok := choiceType(k, c.name); ok {
				out = appendValue(out, v, t)
			}
		}
	}
	return out, nil
}

// appendValue adds v, or each item of an array v, as nodes; resources
// carry their resourceType as type.
func appendValue(out []Node, v any, typ string) []Node {
	if a, ok := v.([]any); ok {
		for _, item := range a {
			out = appendValue(out, item, typ)
		}
		return out
	}
	if v == nil {
		return out
	}
	if m, ok := v.(map[string]any); ok && typ == "" {
		if rt, ok := m["resourceType"].(string); ok {
			typ = rt
		}
	}
	return append(out, Node{Value: v, Type: typ})
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
	if p := strings.ToLower(suffix[:1]) + suffix[1:]; primitiveTypes[p] {
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
type first struct{ name string }

func (f *first) eval(e *env, focus []Node) ([]Node, error) {
	if f.name[0] >= 'A' && f.name[0] <= 'Z' {
		var out []Node
		for _, n := range focus {
			if isA(n.Type, f.name) {
				out = append(out, n)
			}
		}
		return out, nil
	}
	return (&child{name: f.name}).eval(e, focus)
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
	return focus[i : i+1], nil
}

type union struct{ l, r expr }

// eval merges both sides without duplicates (by identity for elements,
// by value for primitives).
func (u *union) eval(e *env, focus []Node) ([]Node, error) {
	l, err := u.l.eval(e, focus)
	if err != nil {
		return nil, err
	}
	r, err := u.r.eval(e, focus)
	if err != nil {
		return nil, err
	}
	out := l
	for _, n := range r {
		if !containsNode(out, n) {
			out = append(out, n)
		}
	}
	return out, nil
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
	default:
		eq, ok := equal(a, b)
		return ok && eq
	}
}

type literal struct{ n Node }

func (l literal) eval(*env, []Node) ([]Node, error) { return []Node{l.n}, nil }

type variable string

func (v variable) eval(e *env, _ []Node) ([]Node, error) {
	if v == "$this" {
		return e.this, nil
	}
	return []Node{e.resource}, nil
}

type equals struct {
	negate bool
	l, r   expr
}

func (q *equals) eval(e *env, focus []Node) ([]Node, error) {
	l, err := q.l.eval(e, focus)
	if err != nil {
		return nil, err
	}
	r, err := q.r.eval(e, focus)
	if err != nil || len(l) == 0 || len(r) == 0 {
		return nil, err
	}
	same := len(l) == len(r)
	for i := 0; same && i < len(l); i++ {
		eq, ok := equal(l[i], r[i])
		same = ok && eq
	}
	return boolean(same != q.negate), nil
}

// equal compares two primitive nodes; ok is false for elements.
func equal(a, b Node) (eq, ok bool) {
	switch av := a.Value.(type) {
	case string:
		bv, isStr := b.Value.(string)
		return isStr && av == bv, true
	case bool:
		bv, isBool := b.Value.(bool)
		return isBool && av == bv, true
	case json.Number:
		x, err1 := strconv.ParseFloat(string(av), 64)
		y, err2 := strconv.ParseFloat(numberText(b.Value), 64)
		return err1 == nil && err2 == nil && x == y, true
	}
	return false, false
}

func numberText(v any) string {
	if n, ok := v.(json.Number); ok {
		return string(n)
	}
	return ""
}

func numberLiteral(s string) json.Number { return json.Number(s) }

func integerOf(n Node) (int, bool) {
	i, err := strconv.Atoi(numberText(n.Value))
	return i, err == nil
}

func boolean(b bool) []Node { return []Node{{Value: b, Type: "boolean"}} }

// truth is FHIRPath's singleton evaluation of a collection as a boolean:
// known is false for an empty collection.
func truth(ns []Node) (value, known bool) {
	if len(ns) != 1 {
		return len(ns) > 1, len(ns) > 1
	}
	if b, ok := ns[0].Value.(bool); ok {
		return b, true
	}
	return true, true
}

type logical struct {
	op   string
	l, r expr
}

// eval is three-valued logic: an empty operand is unknown.
func (g *logical) eval(e *env, focus []Node) ([]Node, error) {
	l, err := g.l.eval(e, focus)
	if err != nil {
		return nil, err
	}
	r, err := g.r.eval(e, focus)
	if err != nil {
		return nil, err
	}
	lv, lk := truth(l)
	rv, rk := truth(r)
	switch g.op {
	case "and":
		if lk && !lv || rk && !rv {
			return boolean(false), nil
		}
		if lk && rk {
			return boolean(true), nil
		}
	case "or":
		if lk && lv || rk && rv {
			return boolean(true), nil
		}
		if lk && rk {
			return boolean(false), nil
		}
	case "xor":
		if lk && rk {
			return boolean(lv != rv), nil
		}
	}
	return nil, nil
}

// typeFilter is `is T`, `as T` and the functions is(), as(), ofType().
type typeFilter struct {
	name string
	mode string // is, as, ofType
}

func (t *typeFilter) eval(_ *env, focus []Node) ([]Node, error) {
	if t.mode == "is" {
		if len(focus) != 1 {
			return nil, nil
		}
		return boolean(isA(focus[0].Type, t.name)), nil
	}
	var out []Node
	for _, n := range focus {
		if isA(n.Type, t.name) {
			out = append(out, n)
		}
	}
	return out, nil
}
