package fhirpath

import (
	"fmt"
	"strings"
)

// newFunction builds a function call; an unknown function or a wrong
// number of arguments is a compile error.
func newFunction(name string, args []expr, typeArg string) (expr, error) {
	arity := map[string][2]int{
		"where": {1, 1}, "exists": {0, 1}, "empty": {0, 0}, "not": {0, 0}, "first": {0, 0},
		"last": {0, 0}, "count": {0, 0}, "resolve": {0, 0}, "extension": {1, 1}, "hasValue": {0, 0},
	}
	if takesType[name] {
		if typeArg == "" || len(args) > 0 {
			return nil, fmt.Errorf("%s() takes one type name", name)
		}
		return &typeFilter{name: typeArg, mode: name}, nil
	}
	a, ok := arity[name]
	if !ok {
		return nil, fmt.Errorf("function %s() is not supported", name)
	}
	if len(args) < a[0] || len(args) > a[1] {
		return nil, fmt.Errorf("%s() takes %d to %d arguments, not %d", name, a[0], a[1], len(args))
	}
	return &function{name: name, args: args}, nil
}

type function struct {
	name string
	args []expr
}

func (f *function) eval(e *env, focus []Node) ([]Node, error) {
	switch f.name {
	case "where":
		return f.filter(e, focus)
	case "exists":
		if len(f.args) == 1 {
			kept, err := f.filter(e, focus)
			return boolean(len(kept) > 0), err
		}
		return boolean(len(focus) > 0), nil
	case "empty":
		return boolean(len(focus) == 0), nil
	case "not":
		if v, known := truth(focus); known {
			return boolean(!v), nil
		}
		return nil, nil
	case "first":
		return head(focus, 0), nil
	case "last":
		return head(focus, len(focus)-1), nil
	case "count":
		return []Node{{Value: numberLiteral(fmt.Sprint(len(focus))), Type: "integer"}}, nil
	case "hasValue":
		return boolean(len(focus) == 1 && isPrimitive(focus[0].Value)), nil
	case "resolve":
		return resolveAll(e, focus), nil
	case "extension":
		return f.extension(e, focus)
	}
	return nil, fmt.Errorf("function %s() is not supported", f.name)
}

func head(ns []Node, i int) []Node {
	if i < 0 || i >= len(ns) {
		return nil
	}
	return ns[i : i+1]
}

// filter keeps the items for which the first argument is true, evaluated
// with the item as focus and $this.
func (f *function) filter(e *env, focus []Node) ([]Node, error) {
	var out []Node
	for _, n := range focus {
		item := []Node{n}
		inner := &env{resource: e.resource, this: item}
		r, err := f.args[0].eval(inner, item)
		if err != nil {
			return nil, err
		}
		if v, known := truth(r); known && v {
			out = append(out, n)
		}
	}
	return out, nil
}

// extension(url) is extension.where(url = 'url').
func (f *function) extension(e *env, focus []Node) ([]Node, error) {
	urls, err := f.args[0].eval(e, e.this)
	if err != nil || len(urls) != 1 {
		return nil, err
	}
	url, _ := urls[0].Value.(string)
	exts, _ := (&child{name: "extension"}).eval(e, focus)
	var out []Node
	for _, x := range exts {
		if m, ok := x.Value.(map[string]any); ok && m["url"] == url {
			out = append(out, Node{Value: m, Type: "Extension"})
		}
	}
	return out, nil
}

func isPrimitive(v any) bool {
	switch v.(type) {
	case map[string]any, []any, nil:
		return false
	}
	return true
}

// resolveAll answers each reference with a node of the referenced type: a
// contained resource for "#id", else a stub with only the type (from the
// reference's type element or its Type/id path), which is what a search
// extractor asks of it.
func resolveAll(e *env, focus []Node) []Node {
	var out []Node
	for _, n := range focus {
		if r, ok := resolveOne(e, n); ok {
			out = append(out, r)
		}
	}
	return out
}

func resolveOne(e *env, n Node) (Node, bool) {
	var ref, typ string
	switch v := n.Value.(type) {
	case map[string]any:
		ref, _ = v["reference"].(string)
		typ, _ = v["type"].(string)
	case string: // canonical or uri
		ref = v
	}
	if strings.HasPrefix(ref, "#") {
		return containedByID(e, ref[1:])
	}
	if typ == "" {
		typ = ReferenceType(ref)
	}
	if typ == "" {
		return Node{}, false
	}
	return Node{Value: map[string]any{"resourceType": typ}, Type: typ}, true
}

func containedByID(e *env, id string) (Node, bool) {
	root, _ := e.resource.Value.(map[string]any)
	list, _ := root["contained"].([]any)
	for _, c := range list {
		if m, ok := c.(map[string]any); ok && m["id"] == id {
			return resourceNode(m), true
		}
	}
	return Node{}, false
}

// ReferenceType is the resource type named by a literal reference:
// "Patient/1", "Patient/1/_history/2", "http://x/fhir/Patient/1".
func ReferenceType(ref string) string {
	if i := strings.Index(ref, "/_history/"); i >= 0 {
		ref = ref[:i]
	}
	ref = strings.TrimRight(ref, "/")
	j := strings.LastIndexByte(ref, '/')
	if j <= 0 {
		return ""
	}
	typ := ref[:j]
	if k := strings.LastIndexByte(typ, '/'); k >= 0 {
		typ = typ[k+1:]
	}
	if typ == "" || typ[0] < 'A' || typ[0] > 'Z' {
		return ""
	}
	return typ
}
