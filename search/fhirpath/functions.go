package fhirpath

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// impl is a function's body: focus is its input collection.
type impl func(f *function, e *env, focus []Node) ([]Node, error)

type spec struct {
	min, max int
	run      impl
}

// functions are the supported functions by name, with their arity.
var functions map[string]spec

func init() {
	functions = map[string]spec{
		// existence
		"empty":      {0, 0, func(_ *function, _ *env, in []Node) ([]Node, error) { return boolean(len(in) == 0), nil }},
		"exists":     {0, 1, fnExists},
		"all":        {1, 1, fnAll},
		"allTrue":    {0, 0, boolsAre(true, true)},
		"anyTrue":    {0, 0, boolsAre(false, true)},
		"allFalse":   {0, 0, boolsAre(true, false)},
		"anyFalse":   {0, 0, boolsAre(false, false)},
		"subsetOf":   {1, 1, fnSubset(false)},
		"supersetOf": {1, 1, fnSubset(true)},
		"count":      {0, 0, func(_ *function, e *env, in []Node) ([]Node, error) { return e.one(integerNode(len(in))), nil }},
		"distinct":   {0, 0, func(_ *function, _ *env, in []Node) ([]Node, error) { return distinct(in), nil }},
		"isDistinct": {0, 0, func(_ *function, _ *env, in []Node) ([]Node, error) {
			return boolean(len(distinct(in)) == len(in)), nil
		}},
		"hasValue": {0, 0, func(_ *function, _ *env, in []Node) ([]Node, error) {
			return boolean(len(in) == 1 && isPrimitive(in[0].Value)), nil
		}},
		"getValue":    {0, 0, fnGetValue},
		"not":         {0, 0, fnNot},
		"where":       {1, 1, fnWhere},
		"select":      {1, 1, fnSelect},
		"repeat":      {1, 1, fnRepeat},
		"single":      {0, 0, fnSingle},
		"first":       {0, 0, func(_ *function, _ *env, in []Node) ([]Node, error) { return head(in, 0), nil }},
		"last":        {0, 0, func(_ *function, _ *env, in []Node) ([]Node, error) { return head(in, len(in)-1), nil }},
		"tail":        {0, 0, fnTail},
		"skip":        {1, 1, fnSkipTake(true)},
		"take":        {1, 1, fnSkipTake(false)},
		"intersect":   {1, 1, fnSetOp(true)},
		"exclude":     {1, 1, fnSetOp(false)},
		"union":       {1, 1, fnUnion},
		"combine":     {1, 1, fnCombine},
		"iif":         {2, 3, fnIif},
		"trace":       {1, 2, func(_ *function, _ *env, in []Node) ([]Node, error) { return in, nil }},
		"children":    {0, 0, fnChildren},
		"descendants": {0, 0, fnDescendants},
		// conversion
		"toString":           {0, 0, convert(toString, false)},
		"convertsToString":   {0, 0, convert(toString, true)},
		"toInteger":          {0, 0, convert(toInteger, false)},
		"convertsToInteger":  {0, 0, convert(toInteger, true)},
		"toDecimal":          {0, 0, convert(toDecimal, false)},
		"convertsToDecimal":  {0, 0, convert(toDecimal, true)},
		"toBoolean":          {0, 0, convert(toBoolean, false)},
		"convertsToBoolean":  {0, 0, convert(toBoolean, true)},
		"toDate":             {0, 0, convert(toTemporal("date"), false)},
		"convertsToDate":     {0, 0, convert(toTemporal("date"), true)},
		"toDateTime":         {0, 0, convert(toTemporal("dateTime"), false)},
		"convertsToDateTime": {0, 0, convert(toTemporal("dateTime"), true)},
		"toTime":             {0, 0, convert(toTemporal("time"), false)},
		"convertsToTime":     {0, 0, convert(toTemporal("time"), true)},
		// strings
		"length":         {0, 0, fnLength},
		"startsWith":     {1, 1, stringTest(strings.HasPrefix)},
		"endsWith":       {1, 1, stringTest(strings.HasSuffix)},
		"contains":       {1, 1, stringTest(strings.Contains)},
		"indexOf":        {1, 1, fnIndexOf},
		"substring":      {1, 2, fnSubstring},
		"upper":          {0, 0, stringMap(strings.ToUpper)},
		"lower":          {0, 0, stringMap(strings.ToLower)},
		"trim":           {0, 0, stringMap(strings.TrimSpace)},
		"replace":        {2, 2, fnReplace},
		"matches":        {1, 1, fnMatches},
		"replaceMatches": {2, 2, fnReplaceMatches},
		"toChars":        {0, 0, fnToChars},
		// math
		"abs":      {0, 0, mathFn(math.Abs, false)},
		"ceiling":  {0, 0, mathFn(math.Ceil, true)},
		"floor":    {0, 0, mathFn(math.Floor, true)},
		"truncate": {0, 0, mathFn(math.Trunc, true)},
		"sqrt":     {0, 0, mathFn(math.Sqrt, false)},
		"exp":      {0, 0, mathFn(math.Exp, false)},
		"ln":       {0, 0, mathFn(math.Log, false)},
		"round":    {0, 1, fnRound},
		// utility
		"now":       {0, 0, clock("dateTime", "2006-01-02T15:04:05.000-07:00")},
		"today":     {0, 0, clock("date", "2006-01-02")},
		"timeOfDay": {0, 0, clock("time", "15:04:05.000")},
		// FHIR
		"resolve":    {0, 0, func(_ *function, e *env, in []Node) ([]Node, error) { return resolveAll(e, in), nil }},
		"extension":  {1, 1, fnExtension},
		"htmlChecks": {0, 0, fnHTMLChecks},
		// terminology and profiles are the validator's: unknown here
		"memberOf":     {1, 1, unknown},
		"conformsTo":   {1, 1, unknown},
		"subsumes":     {1, 1, unknown},
		"subsumedBy":   {1, 1, unknown},
		"lowBoundary":  {0, 1, unknown},
		"highBoundary": {0, 1, unknown},
	}
}

// newFunction builds a function call; an unknown function or a wrong
// number of arguments is a compile error.
func newFunction(name string, args []expr, typeArg string) (expr, error) {
	if takesType[name] {
		if typeArg == "" || len(args) > 0 {
			return nil, fmt.Errorf("%s() takes one type name", name)
		}
		return &typeFilter{name: typeArg, mode: name}, nil
	}
	s, ok := functions[name]
	if !ok {
		return nil, fmt.Errorf("function %s() is not supported", name)
	}
	if len(args) < s.min || len(args) > s.max {
		return nil, fmt.Errorf("%s() takes %d to %d arguments, not %d", name, s.min, s.max, len(args))
	}
	f := &function{name: name, args: args, run: s.run}
	if name == "matches" || name == "replaceMatches" {
		if l, ok := args[0].(literal); ok && len(l.ns) == 1 {
			src, _ := l.ns[0].Value.(string)
			re, err := compileRegexp(src)
			if err != nil {
				return nil, fmt.Errorf("%s(): %w", name, err)
			}
			f.re = re
		}
	}
	return f, nil
}

type function struct {
	name string
	args []expr
	run  impl
	re   *regexp.Regexp // a literal pattern, compiled once
}

func (f *function) eval(e *env, focus []Node) ([]Node, error) { return f.run(f, e, focus) }

// arg evaluates a plain (not per-item) argument, against $this.
func (f *function) arg(e *env, i int) ([]Node, error) { return f.args[i].eval(e, e.this) }

// each evaluates argument 0 on every item of focus, with the item as its
// focus and $this, and its position as $index; visit may stop it.
func (f *function) each(e *env, focus []Node, visit func(i int, r []Node) bool) error {
	this, index := e.this, e.index
	defer func() { e.this, e.index = this, index }()
	for i := range focus {
		item := focus[i : i+1 : i+1]
		e.this, e.index = item, i
		r, err := f.args[0].eval(e, item)
		if err != nil {
			return err
		}
		if !visit(i, r) {
			break
		}
	}
	return nil
}

func isTrue(r []Node) bool {
	v, known := truth(r)
	return known && v
}

func fnExists(f *function, e *env, in []Node) ([]Node, error) {
	if len(f.args) == 0 {
		return boolean(len(in) > 0), nil
	}
	found := false
	err := f.each(e, in, func(_ int, r []Node) bool { found = isTrue(r); return !found })
	return boolean(found), err
}

func fnAll(f *function, e *env, in []Node) ([]Node, error) {
	all := true
	err := f.each(e, in, func(_ int, r []Node) bool { all = isTrue(r); return all })
	return boolean(all), err
}

func fnWhere(f *function, e *env, in []Node) ([]Node, error) {
	var out []Node
	kept := 0
	err := f.each(e, in, func(i int, r []Node) bool {
		if isTrue(r) {
			if kept == i { // so far everything is kept: share the input
				kept++
				return true
			}
			if out == nil {
				out = append(make([]Node, 0, len(in)), in[:kept]...)
			}
			out = append(out, in[i])
		} else if out == nil && kept == i {
			out = append(make([]Node, 0, len(in)), in[:kept]...)
		}
		return true
	})
	if out == nil {
		return in[:kept:kept], err
	}
	return out, err
}

func fnSelect(f *function, e *env, in []Node) ([]Node, error) {
	if len(in) == 1 {
		var out []Node
		err := f.each(e, in, func(_ int, r []Node) bool { out = r; return true })
		return out, err
	}
	var out []Node
	err := f.each(e, in, func(_ int, r []Node) bool { out = append(out, r...); return true })
	return out, err
}

// repeat applies the projection to the input, then to what it found, until
// nothing new comes; elements are told apart by identity, primitives by
// value.
func fnRepeat(f *function, e *env, in []Node) ([]Node, error) {
	var out []Node
	var s seen
	queue := in
	for len(queue) > 0 {
		var next []Node
		err := f.each(e, queue, func(_ int, r []Node) bool {
			for _, n := range r {
				if s.add(n) {
					out = append(out, n)
					next = append(next, n)
				}
			}
			return true
		})
		if err != nil {
			return nil, err
		}
		queue = next
	}
	return out, nil
}

// seen is a set of nodes: elements by identity, primitives by value.
type seen struct {
	ptrs  map[uintptr]bool
	prims map[string]bool
}

func (s *seen) add(n Node) bool {
	var p uintptr
	switch v := n.Value.(type) {
	case map[string]any:
		p = reflect.ValueOf(v).Pointer()
	case nil:
		if n.Ext == nil {
			return false
		}
		p = reflect.ValueOf(n.Ext).Pointer()
	default:
		k, ok := primitiveKey(n)
		if !ok {
			return true
		}
		if s.prims == nil {
			s.prims = map[string]bool{}
		}
		if s.prims[k] {
			return false
		}
		s.prims[k] = true
		return true
	}
	if s.ptrs == nil {
		s.ptrs = map[uintptr]bool{}
	}
	if s.ptrs[p] {
		return false
	}
	s.ptrs[p] = true
	return true
}

func boolsAre(all, want bool) impl {
	return func(_ *function, _ *env, in []Node) ([]Node, error) {
		for _, n := range in {
			b, ok := n.Value.(bool)
			if all && (!ok || b != want) {
				return boolean(false), nil
			}
			if !all && ok && b == want {
				return boolean(true), nil
			}
		}
		return boolean(all), nil
	}
}

func fnSubset(super bool) impl {
	return func(f *function, e *env, in []Node) ([]Node, error) {
		other, err := f.arg(e, 0)
		if err != nil {
			return nil, err
		}
		a, b := in, other
		if super {
			a, b = other, in
		}
		for _, n := range a {
			if !memberOf(n, b) {
				return boolean(false), nil
			}
		}
		return boolean(true), nil
	}
}

// distinct keeps the first of equal items (FHIRPath `=`, so elements
// member by member).
func distinct(in []Node) []Node {
	if len(in) < 2 {
		return in
	}
	out := make([]Node, 0, len(in))
	var keys map[string]bool
	for _, n := range in {
		if k, ok := primitiveKey(n); ok && len(in) > 16 {
			if keys == nil {
				keys = map[string]bool{}
			}
			if !keys[k] {
				keys[k] = true
				out = append(out, n)
			}
			continue
		}
		if !memberOf(n, out) {
			out = append(out, n)
		}
	}
	return out
}

func fnGetValue(_ *function, _ *env, in []Node) ([]Node, error) {
	if len(in) == 1 && isPrimitive(in[0].Value) {
		return in, nil
	}
	return nil, nil
}

func fnNot(_ *function, _ *env, in []Node) ([]Node, error) {
	if v, known := truth(in); known {
		return boolean(!v), nil
	}
	return nil, nil
}

func head(ns []Node, i int) []Node {
	if i < 0 || i >= len(ns) {
		return nil
	}
	return ns[i : i+1 : i+1]
}

func fnSingle(_ *function, _ *env, in []Node) ([]Node, error) {
	if len(in) > 1 {
		return nil, fmt.Errorf("single() on %d items", len(in))
	}
	return in, nil
}

func fnTail(_ *function, _ *env, in []Node) ([]Node, error) {
	if len(in) < 2 {
		return nil, nil
	}
	return in[1:], nil
}

func fnSkipTake(skip bool) impl {
	return func(f *function, e *env, in []Node) ([]Node, error) {
		a, err := f.arg(e, 0)
		if err != nil || len(a) != 1 {
			return nil, err
		}
		n, ok := integerOf(a[0])
		if !ok {
			return nil, fmt.Errorf("%s() needs an integer", f.name)
		}
		n = max(0, min(n, len(in)))
		if skip {
			return in[n:], nil
		}
		return in[:n:n], nil
	}
}

func fnSetOp(keep bool) impl {
	return func(f *function, e *env, in []Node) ([]Node, error) {
		other, err := f.arg(e, 0)
		if err != nil {
			return nil, err
		}
		var out []Node
		for _, n := range in {
			if memberOf(n, other) == keep && (!keep || !memberOf(n, out)) {
				out = append(out, n)
			}
		}
		return out, nil
	}
}

func fnUnion(f *function, e *env, in []Node) ([]Node, error) {
	other, err := f.arg(e, 0)
	if err != nil {
		return nil, err
	}
	return unionOf(in, other, true), nil
}

func fnCombine(f *function, e *env, in []Node) ([]Node, error) {
	other, err := f.arg(e, 0)
	if err != nil {
		return nil, err
	}
	return append(in[:len(in):len(in)], other...), nil
}

// iif evaluates its arguments on its input (the focus, when it starts a
// path), which is also their $this.
func fnIif(f *function, e *env, in []Node) ([]Node, error) {
	this := e.this
	defer func() { e.this = this }()
	e.this = in
	c, err := f.args[0].eval(e, in)
	if err != nil {
		return nil, err
	}
	if isTrue(c) {
		return f.args[1].eval(e, in)
	}
	if len(f.args) == 3 {
		return f.args[2].eval(e, in)
	}
	return nil, nil
}

func fnChildren(_ *function, e *env, in []Node) ([]Node, error) {
	var out []Node
	for _, n := range in {
		out = e.children(out, n)
	}
	return out, nil
}

// descendants walks the tree below the input, depth first; unlike
// repeat(children()) it keeps equal primitives found in different places.
func fnDescendants(_ *function, e *env, in []Node) ([]Node, error) {
	var out []Node
	for _, n := range in {
		start := len(out)
		out = e.children(out, n)
		for i := start; i < len(out); i++ {
			out = e.children(out, out[i])
		}
	}
	return out, nil
}

// children appends the child elements of n: every property of an element
// (the items of an array one by one), and in an invariant the `_name`
// objects of primitives joined to their values; a primitive's children are
// its id and extensions. Their order is not defined.
func (e *env) children(out []Node, n Node) []Node {
	m, ok := n.Value.(map[string]any)
	if !ok {
		if m = n.Ext; m == nil {
			return out
		}
	}
	underscores := false
	if e.invariant {
		for k := range m {
			if len(k) > 1 && k[0] == '_' {
				underscores = true
				break
			}
		}
	}
	for k, v := range m {
		if k == "resourceType" {
			continue
		}
		if len(k) > 1 && k[0] == '_' {
			if !e.invariant {
				continue
			}
			if bv, has := m[k[1:]]; has && bv != nil {
				continue // joined to its value(s)
			}
			out = appendPaired(out, nil, v, "")
			continue
		}
		var x any
		if underscores && isPrimitiveOrList(v) {
			x = m["_"+k]
		}
		out = appendPaired(out, v, x, "")
	}
	return out
}

func isPrimitiveOrList(v any) bool {
	switch v.(type) {
	case map[string]any:
		return false
	case []any:
		return true
	}
	return v != nil
}

// countChildren is children().count() without building the children.
type countChildren struct{}

func (countChildren) eval(e *env, focus []Node) ([]Node, error) {
	total := 0
	for _, n := range focus {
		m, ok := n.Value.(map[string]any)
		if !ok {
			if m = n.Ext; m == nil {
				continue
			}
		}
		for k, v := range m {
			switch {
			case k == "resourceType":
			case len(k) > 1 && k[0] == '_':
				if e.invariant {
					total += countUnpaired(m[k[1:]], v)
				}
			default:
				total += countValue(v)
			}
		}
	}
	return e.one(integerNode(total)), nil
}

func countValue(v any) int {
	switch a := v.(type) {
	case nil:
		return 0
	case []any:
		n := 0
		for _, item := range a {
			n += countValue(item)
		}
		return n
	}
	return 1
}

// countUnpaired counts the items of a `_name` value x not joined to a
// value of name (v).
func countUnpaired(v, x any) int {
	if v == nil {
		return countValue(x)
	}
	values, isArray := v.([]any)
	if !isArray {
		return 0
	}
	n := 0
	xs, _ := x.([]any)
	for i, xi := range xs {
		if _, ok := xi.(map[string]any); ok && (i >= len(values) || values[i] == nil) {
			n++
		}
	}
	return n
}

// countChild is name.count() without building the collection when it
// can.
type countChild struct{ c *child }

func (cc *countChild) eval(e *env, focus []Node) ([]Node, error) {
	if len(focus) == 1 {
		if m, ok := focus[0].Value.(map[string]any); ok {
			if v, ok := m[cc.c.name]; ok && (!e.invariant || m[cc.c.ext] == nil) {
				return e.one(integerNode(countValue(v))), nil
			}
		}
	}
	r, err := cc.c.eval(e, focus)
	if err != nil {
		return nil, err
	}
	return e.one(integerNode(len(r))), nil
}

// conversions

type converter func(n Node) (Node, bool)

func convert(c converter, test bool) impl {
	return func(f *function, e *env, in []Node) ([]Node, error) {
		if len(in) == 0 {
			return nil, nil
		}
		if len(in) > 1 {
			return nil, fmt.Errorf("%s() on %d items", f.name, len(in))
		}
		r, ok := c(in[0])
		if test {
			return boolean(ok), nil
		}
		if !ok {
			return nil, nil
		}
		return e.one(r), nil
	}
}

func toString(n Node) (Node, bool) {
	if !isPrimitive(n.Value) {
		if _, ok := n.Value.(map[string]any); !ok || stringOf(n) == "" {
			return Node{}, false
		}
	}
	if s, ok := n.Value.(string); ok && n.Type == "string" {
		return Node{Value: s, Type: "string"}, true
	}
	return Node{Value: stringOf(n), Type: "string"}, true
}

func toInteger(n Node) (Node, bool) {
	switch v := n.Value.(type) {
	case json.Number:
		if isIntegerText(string(v)) {
			return Node{Value: v, Type: "integer"}, true
		}
	case string:
		if isIntegerText(v) {
			i, err := strconv.Atoi(v)
			return integerNode(i), err == nil
		}
	case bool:
		if v {
			return integerNode(1), true
		}
		return integerNode(0), true
	}
	return Node{}, false
}

func toDecimal(n Node) (Node, bool) {
	switch v := n.Value.(type) {
	case json.Number:
		return Node{Value: v, Type: "decimal"}, true
	case string:
		if _, err := strconv.ParseFloat(v, 64); err == nil && !strings.ContainsAny(v, "eEnNiI") {
			return Node{Value: json.Number(v), Type: "decimal"}, true
		}
	case bool:
		if v {
			return Node{Value: json.Number("1.0"), Type: "decimal"}, true
		}
		return Node{Value: json.Number("0.0"), Type: "decimal"}, true
	}
	return Node{}, false
}

func toBoolean(n Node) (Node, bool) {
	switch v := n.Value.(type) {
	case bool:
		return Node{Value: v, Type: "boolean"}, true
	case string:
		switch strings.ToLower(v) {
		case "true", "t", "yes", "y", "1", "1.0":
			return Node{Value: true, Type: "boolean"}, true
		case "false", "f", "no", "n", "0", "0.0":
			return Node{Value: false, Type: "boolean"}, true
		}
	case json.Number:
		if f, ok := numberOf(n); ok && (f == 0 || f == 1) {
			return Node{Value: f == 1, Type: "boolean"}, true
		}
	}
	return Node{}, false
}

func toTemporal(typ string) converter {
	return func(n Node) (Node, bool) {
		s, ok := n.Value.(string)
		if !ok {
			return Node{}, false
		}
		m, ok := parseMoment(s, typ == "time")
		if !ok {
			return Node{}, false
		}
		if typ == "date" && m.prec > 3 {
			s = s[:10]
		}
		return Node{Value: s, Type: typ}, true
	}
}

// strings

// singleString is the string input of a string function; ok is false for
// an empty input (the result is then empty).
func singleString(f *function, in []Node) (string, bool, error) {
	if len(in) == 0 {
		return "", false, nil
	}
	if len(in) > 1 {
		return "", false, fmt.Errorf("%s() on %d items", f.name, len(in))
	}
	s, ok := in[0].Value.(string)
	return s, ok, nil
}

// stringArg is argument i as a string; ok is false when it is empty.
func (f *function) stringArg(e *env, i int) (string, bool, error) {
	a, err := f.arg(e, i)
	if err != nil || len(a) == 0 {
		return "", false, err
	}
	if len(a) > 1 {
		return "", false, fmt.Errorf("%s(): argument %d has %d items", f.name, i+1, len(a))
	}
	s, ok := a[0].Value.(string)
	return s, ok, nil
}

func stringTest(test func(s, arg string) bool) impl {
	return func(f *function, e *env, in []Node) ([]Node, error) {
		s, ok, err := singleString(f, in)
		if err != nil || !ok {
			return nil, err
		}
		a, ok, err := f.stringArg(e, 0)
		if err != nil || !ok {
			return nil, err
		}
		return boolean(test(s, a)), nil
	}
}

func stringMap(m func(string) string) impl {
	return func(f *function, e *env, in []Node) ([]Node, error) {
		s, ok, err := singleString(f, in)
		if err != nil || !ok {
			return nil, err
		}
		return e.one(Node{Value: m(s), Type: "string"}), nil
	}
}

func fnLength(f *function, e *env, in []Node) ([]Node, error) {
	s, ok, err := singleString(f, in)
	if err != nil || !ok {
		return nil, err
	}
	return e.one(integerNode(utf8.RuneCountInString(s))), nil
}

func fnIndexOf(f *function, e *env, in []Node) ([]Node, error) {
	s, ok, err := singleString(f, in)
	if err != nil || !ok {
		return nil, err
	}
	a, ok, err := f.stringArg(e, 0)
	if err != nil || !ok {
		return nil, err
	}
	i := strings.Index(s, a)
	if i > 0 {
		i = utf8.RuneCountInString(s[:i])
	}
	return e.one(integerNode(i)), nil
}

func fnSubstring(f *function, e *env, in []Node) ([]Node, error) {
	s, ok, err := singleString(f, in)
	if err != nil || !ok {
		return nil, err
	}
	var bounds [2]int
	for i := range f.args {
		a, err := f.arg(e, i)
		if err != nil || len(a) == 0 {
			return nil, err
		}
		n, ok := integerOf(a[0])
		if !ok {
			return nil, fmt.Errorf("substring() needs integers")
		}
		bounds[i] = n
	}
	r := []rune(s)
	start := bounds[0]
	if start < 0 || start >= len(r) {
		return nil, nil
	}
	end := len(r)
	if len(f.args) == 2 {
		end = min(len(r), start+max(0, bounds[1]))
	}
	return e.one(Node{Value: string(r[start:end]), Type: "string"}), nil
}

func fnReplace(f *function, e *env, in []Node) ([]Node, error) {
	s, ok, err := singleString(f, in)
	if err != nil || !ok {
		return nil, err
	}
	pattern, ok1, err1 := f.stringArg(e, 0)
	subst, ok2, err2 := f.stringArg(e, 1)
	if err1 != nil || err2 != nil || !ok1 || !ok2 {
		return nil, firstError(err1, err2)
	}
	return e.one(Node{Value: strings.ReplaceAll(s, pattern, subst), Type: "string"}), nil
}

func firstError(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

var regexps sync.Map // pattern -> *regexp.Regexp, for patterns that are not literals

// compileRegexp compiles a FHIRPath pattern in single-line mode (. matches
// a newline). Go's RE2 syntax is close to, not the same as, the Java and
// .NET syntax FHIRPath names: backreferences and lookaround fail.
func compileRegexp(src string) (*regexp.Regexp, error) {
	return regexp.Compile("(?s)" + src)
}

func (f *function) regexp(e *env) (*regexp.Regexp, bool, error) {
	if f.re != nil {
		return f.re, true, nil
	}
	src, ok, err := f.stringArg(e, 0)
	if err != nil || !ok {
		return nil, false, err
	}
	if re, ok := regexps.Load(src); ok {
		return re.(*regexp.Regexp), true, nil
	}
	re, err := compileRegexp(src)
	if err != nil {
		return nil, false, err
	}
	regexps.Store(src, re)
	return re, true, nil
}

// fnMatches is true when the pattern matches anywhere in the string (it
// is not anchored: the invariants that mean the whole string say ^...$).
func fnMatches(f *function, e *env, in []Node) ([]Node, error) {
	s, ok, err := singleString(f, in)
	if err != nil || !ok {
		return nil, err
	}
	re, ok, err := f.regexp(e)
	if err != nil || !ok {
		return nil, err
	}
	return boolean(re.MatchString(s)), nil
}

func fnReplaceMatches(f *function, e *env, in []Node) ([]Node, error) {
	s, ok, err := singleString(f, in)
	if err != nil || !ok {
		return nil, err
	}
	re, ok, err := f.regexp(e)
	if err != nil || !ok {
		return nil, err
	}
	subst, ok, err := f.stringArg(e, 1)
	if err != nil || !ok {
		return nil, err
	}
	return e.one(Node{Value: re.ReplaceAllString(s, subst), Type: "string"}), nil
}

func fnToChars(f *function, _ *env, in []Node) ([]Node, error) {
	s, ok, err := singleString(f, in)
	if err != nil || !ok {
		return nil, err
	}
	var out []Node
	for _, r := range s {
		out = append(out, Node{Value: string(r), Type: "string"})
	}
	return out, nil
}

// math

func mathFn(m func(float64) float64, integral bool) impl {
	return func(f *function, e *env, in []Node) ([]Node, error) {
		if len(in) == 0 {
			return nil, nil
		}
		if len(in) > 1 {
			return nil, fmt.Errorf("%s() on %d items", f.name, len(in))
		}
		x, ok := numberOf(in[0])
		if !ok {
			return nil, fmt.Errorf("%s() needs a number", f.name)
		}
		z := m(x)
		if math.IsNaN(z) || math.IsInf(z, 0) {
			return nil, nil
		}
		if integral || isIntegerText(numberText(in[0].Value)) && f.name == "abs" {
			return e.one(integerNode(int(z))), nil
		}
		return e.one(decimalNode(z)), nil
	}
}

func fnRound(f *function, e *env, in []Node) ([]Node, error) {
	if len(in) != 1 {
		return nil, nil
	}
	x, ok := numberOf(in[0])
	if !ok {
		return nil, fmt.Errorf("round() needs a number")
	}
	digits := 0
	if len(f.args) == 1 {
		a, err := f.arg(e, 0)
		if err != nil || len(a) != 1 {
			return nil, err
		}
		digits, _ = integerOf(a[0])
	}
	p := math.Pow(10, float64(digits))
	return e.one(decimalNode(math.Round(x*p) / p)), nil
}

func clock(typ, layout string) impl {
	return func(_ *function, e *env, _ []Node) ([]Node, error) {
		return e.one(Node{Value: time.Now().Format(layout), Type: typ}), nil
	}
}

// unknown is the answer of what needs a terminology server or the
// validator (memberOf, conformsTo, ...): empty.
func unknown(*function, *env, []Node) ([]Node, error) { return nil, nil }

// fnHTMLChecks stands for the checks of a narrative's XHTML, which the
// validator makes itself: true when the div is there, is a <div> and has
// some content (txt-1, txt-2).
func fnHTMLChecks(_ *function, _ *env, in []Node) ([]Node, error) {
	if len(in) == 0 {
		return boolean(false), nil
	}
	s, _ := in[0].Value.(string)
	s = strings.TrimSpace(s)
	open := strings.IndexByte(s, '>')
	end := strings.LastIndex(s, "</div>")
	if !strings.HasPrefix(s, "<div") || open < 0 || end < open {
		return boolean(false), nil
	}
	return boolean(strings.TrimSpace(s[open+1:end]) != ""), nil
}

var extensionChild = newChild("extension")

// fnExtension is extension.where(url = 'url'): on a primitive, its
// `_name` object's extensions.
func fnExtension(f *function, e *env, in []Node) ([]Node, error) {
	url, ok, err := f.stringArg(e, 0)
	if err != nil || !ok {
		return nil, err
	}
	var exts []Node
	for _, n := range in {
		exts, _ = extensionChild.from(e, exts, n, false)
	}
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
	root, _ := e.root.Value.(map[string]any)
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
