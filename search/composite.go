package search

import (
	"strings"
	"sync"

	"github.com/fhirserver/fhirserver/search/fhirpath"

	"github.com/fhirserver/fhirserver/storage"
)

// composites computes a composite parameter's entries: for each element
// its expression selects, every combination of its components' values.
// scratch, when not nil, keeps the components' values from one composite
// to the next (Extract evaluates several on each observation).
func (r *Registry) composites(p *Param, resource map[string]any, scratch *[]storage.Index) []storage.CompositeEntry {
	shape := r.compositeShape(p)
	if shape == nil || p.extract == nil {
		return nil
	}
	var out []storage.CompositeEntry
	var values []storage.Index // each element's, reused: combine copies what it keeps
	_ = p.extract.EvaluateFunc(resource, func(nodes []fhirpath.Node) {
		for _, n := range nodes {
			elem, ok := n.Value.(map[string]any)
			if !ok {
				continue
			}
			if values == nil {
				values = componentValues(scratch, len(p.Components))
			}
			// The last components first: an element without a value of
			// the composite's type (most observations, for all but one of
			// code-value-quantity, -concept, -date and -string) makes no
			// entry, and its code is then not extracted for nothing.
			complete := true
			for i := len(p.Components) - 1; i >= 0 && complete; i-- {
				x := extraction{ix: emptied(values[i])}
				_ = p.Components[i].extract.EvaluateFunc(elem, func(cn []fhirpath.Node) {
					for _, m := range cn {
						x.add(shape.params[i], m)
					}
				})
				values[i], complete = x.ix, !isEmpty(x.ix)
			}
			if complete {
				out = append(out, combine(p.Code, shape.kinds, values)...)
			}
		}
	})
	return out
}

// componentValues is room for n components' values, from scratch when it
// has enough.
func componentValues(scratch *[]storage.Index, n int) []storage.Index {
	if scratch == nil {
		return make([]storage.Index, n)
	}
	if cap(*scratch) < n {
		*scratch = make([]storage.Index, n)
	}
	return (*scratch)[:n]
}

// emptied is ix without entries, keeping its slices' memory.
func emptied(ix storage.Index) storage.Index {
	return storage.Index{Strings: ix.Strings[:0], Tokens: ix.Tokens[:0], References: ix.References[:0], Dates: ix.Dates[:0],
		Numbers: ix.Numbers[:0], Quantities: ix.Quantities[:0], URIs: ix.URIs[:0], Composites: ix.Composites[:0]}
}

// isEmpty tells whether ix has no entries at all.
func isEmpty(ix storage.Index) bool {
	return len(ix.Strings)+len(ix.Tokens)+len(ix.References)+len(ix.Dates)+len(ix.Numbers)+len(ix.Quantities)+len(ix.URIs)+len(ix.Composites) == 0
}

// compositeShape is what extracting a composite parameter needs of its
// components, worked out once: a registry does not change once loaded.
type compositeShape struct {
	kinds  []string
	params []*Param // each component's values are extracted as p of its kind
}

var compositeShapes sync.Map // *Param -> *compositeShape (nil: not indexable)

func (r *Registry) compositeShape(p *Param) *compositeShape {
	if v, ok := compositeShapes.Load(p); ok {
		return v.(*compositeShape)
	}
	var shape *compositeShape
	if kinds := r.componentTypes(p); kinds != nil {
		shape = &compositeShape{kinds: kinds}
		for _, k := range kinds {
			shape.params = append(shape.params, &Param{Code: p.Code, Type: k})
		}
	}
	v, _ := compositeShapes.LoadOrStore(p, shape)
	return v.(*compositeShape)
}

// componentTypes are the types of p's components, or nil if one of them
// is not a known parameter (then p cannot be indexed).
func (r *Registry) componentTypes(p *Param) []string {
	kinds := make([]string, len(p.Components))
	for i, c := range p.Components {
		d := r.ByURL(c.Definition)
		if d == nil {
			return nil
		}
		kinds[i] = d.Type
	}
	if len(kinds) < 2 || len(kinds) > 3 || kinds[0] != "token" && kinds[0] != "reference" {
		return nil
	}
	return kinds
}

// combine crosses the first component's values with the second's (and the third's).
func combine(param string, kinds []string, values []storage.Index) []storage.CompositeEntry {
	var out []storage.CompositeEntry
	for _, first := range firstValues(values[0]) {
		for _, e := range secondValues(kinds[1], values[1]) {
			e.Param, e.C1System, e.C1Code = param, first.System, first.Code
			if len(kinds) == 2 {
				out = append(out, e)
				continue
			}
			for _, n := range values[2].Numbers {
				e3 := e
				e3.C3Value = &n.Value
				out = append(out, e3)
			}
		}
	}
	return out
}

func firstValues(ix storage.Index) []storage.TokenEntry {
	var out []storage.TokenEntry
	for _, t := range ix.Tokens {
		if t.Code != nil {
			out = append(out, t)
		}
	}
	for _, r := range ix.References {
		if r.TargetType != nil && r.TargetID != nil {
			ref := *r.TargetType + "/" + *r.TargetID
			out = append(out, storage.TokenEntry{Code: &ref})
		}
	}
	return out
}

func secondValues(kind string, ix storage.Index) []storage.CompositeEntry {
	var out []storage.CompositeEntry
	switch kind {
	case "token":
		for _, t := range ix.Tokens {
			if t.Code != nil {
				out = append(out, storage.CompositeEntry{C2System: t.System, C2Code: t.Code})
			}
		}
	case "string":
		for _, s := range ix.Strings {
			out = append(out, storage.CompositeEntry{C2Text: &s.Value})
		}
	case "quantity":
		for _, q := range ix.Quantities {
			out = append(out, storage.CompositeEntry{C2Value: &q.Value, C2System: q.System, C2Code: q.Code, C2Unit: q.Unit})
		}
	case "number":
		for _, n := range ix.Numbers {
			out = append(out, storage.CompositeEntry{C2Value: &n.Value})
		}
	case "date":
		for _, d := range ix.Dates {
			out = append(out, storage.CompositeEntry{C2Lo: &d.Lo, C2Hi: &d.Hi})
		}
	}
	return out
}

// compositeCondition matches a$b[$c]: the components' values, with their
// own syntax (prefixes included), found together in one element.
func (r *Registry) compositeCondition(p *Param, name, modifier string, values []string) (builder, error) {
	if modifier != "" {
		return nil, unknownModifier(name, modifier)
	}
	kinds := r.componentTypes(p)
	if kinds == nil {
		return nil, nil
	}
	var conds []func(arg func(any) string) string
	for _, val := range values {
		c, err := compositeValue(name, kinds, val)
		if err != nil {
			return nil, err
		}
		conds = append(conds, c)
	}
	return func(arg func(any) string, v string) string {
		ors := make([]string, len(conds))
		for i, c := range conds {
			ors[i] = "(" + c(arg) + ")"
		}
		return index("search_composite", p, v, strings.Join(ors, " OR "), arg)
	}, nil
}

func compositeValue(name string, kinds []string, val string) (func(arg func(any) string) string, error) {
	parts := splitEscaped(val, '$')
	if len(parts) != len(kinds) {
		return nil, invalid(name, "%s: %q must have %d parts separated by $", name, val, len(kinds))
	}
	var first func(arg func(any) string) string
	if kinds[0] == "reference" {
		ref := unescape(parts[0])
		first = func(arg func(any) string) string { return equals(arg, "x.c1_code", ref) }
	} else {
		t, err := parseToken(name, parts[0])
		if err != nil {
			return nil, err
		}
		first = func(arg func(any) string) string { return t.sqlOn(arg, "x.c1_system", "x.c1_code") }
	}
	second, err := secondCondition(name, kinds[1], parts[1])
	if err != nil {
		return nil, err
	}
	third := func(func(any) string) string { return "true" }
	if len(kinds) == 3 {
		n, err := parseNumber(name, unescape(parts[2]))
		if err != nil {
			return nil, err
		}
		third = func(arg func(any) string) string { return n.sql(arg, "x.c3_value") }
	}
	return func(arg func(any) string) string {
		return first(arg) + " AND (" + second(arg) + ") AND (" + third(arg) + ")"
	}, nil
}

func secondCondition(name, kind, raw string) (func(arg func(any) string) string, error) {
	switch kind {
	case "token":
		t, err := parseToken(name, raw)
		if err != nil {
			return nil, err
		}
		return func(arg func(any) string) string { return t.sqlOn(arg, "x.c2_system", "x.c2_code") }, nil
	case "string":
		v := Normalize(unescape(raw))
		return func(arg func(any) string) string { return "x.c2_text LIKE " + arg(likePrefix(v)) }, nil
	case "number":
		n, err := parseNumber(name, unescape(raw))
		if err != nil {
			return nil, err
		}
		return func(arg func(any) string) string { return n.sql(arg, "x.c2_value") }, nil
	case "date":
		ds, err := parseDates(name, []string{unescape(raw)})
		if err != nil {
			return nil, err
		}
		return func(arg func(any) string) string { return ds[0].sql(arg, "x.c2_lo", "x.c2_hi") }, nil
	case "quantity":
		q, err := parseQuantity(name, raw)
		if err != nil {
			return nil, err
		}
		return func(arg func(any) string) string {
			return q.sql(arg, "x.c2_value", "x.c2_system", "x.c2_code", "x.c2_unit")
		}, nil
	}
	return nil, invalid(name, "%s: components of type %s are not supported", name, kind)
}
