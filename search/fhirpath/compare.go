package fhirpath

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// newBinary builds the node of a binary operator.
func newBinary(op string, l, r expr) expr {
	switch op {
	case "and", "or", "xor", "implies":
		return &logical{op: op, l: l, r: r}
	case "=", "!=":
		return &equals{negate: op == "!=", l: l, r: r}
	case "~", "!~":
		return &equals{negate: op == "!~", equivalent: true, l: l, r: r}
	case "<", ">", "<=", ">=":
		return &ordering{op: op, l: l, r: r}
	case "|":
		return &union{l: l, r: r}
	case "in":
		return &membership{item: l, list: r}
	case "contains":
		return &membership{item: r, list: l}
	case "&":
		return &concat{l: l, r: r}
	}
	return &arith{op: op, l: l, r: r}
}

var (
	trueNodes  = []Node{{Value: true, Type: "boolean"}}
	falseNodes = []Node{{Value: false, Type: "boolean"}}
)

// boolean answers a shared, read-only collection.
func boolean(b bool) []Node {
	if b {
		return trueNodes[:1:1]
	}
	return falseNodes[:1:1]
}

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

// eval is three-valued logic: an empty operand is unknown. The right side
// is not evaluated when the left one decides.
func (g *logical) eval(e *env, focus []Node) ([]Node, error) {
	l, err := g.l.eval(e, focus)
	if err != nil {
		return nil, err
	}
	lv, lk := truth(l)
	switch {
	case g.op == "and" && lk && !lv:
		return boolean(false), nil
	case g.op == "or" && lk && lv:
		return boolean(true), nil
	case g.op == "implies" && lk && !lv:
		return boolean(true), nil
	}
	r, err := g.r.eval(e, focus)
	if err != nil {
		return nil, err
	}
	rv, rk := truth(r)
	switch g.op {
	case "and":
		if rk && !rv {
			return boolean(false), nil
		}
		if lk && rk {
			return boolean(true), nil
		}
	case "or":
		if rk && rv {
			return boolean(true), nil
		}
		if lk && rk {
			return boolean(false), nil
		}
	case "xor":
		if lk && rk {
			return boolean(lv != rv), nil
		}
	case "implies":
		if rk && rv {
			return boolean(true), nil
		}
		if lk && rk {
			return boolean(false), nil
		}
	}
	return nil, nil
}

type equals struct {
	negate, equivalent bool
	l, r               expr
}

func (q *equals) eval(e *env, focus []Node) ([]Node, error) {
	l, r, err := both(e, focus, q.l, q.r)
	if err != nil {
		return nil, err
	}
	if q.equivalent {
		return boolean(equivalentLists(l, r) != q.negate), nil
	}
	if len(l) == 0 || len(r) == 0 {
		return nil, nil
	}
	if len(l) != len(r) {
		return boolean(q.negate), nil
	}
	for i := range l {
		eq, known := equality(l[i], r[i])
		if !known {
			return nil, nil
		}
		if !eq {
			return boolean(q.negate), nil
		}
	}
	return boolean(!q.negate), nil
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

// equality is FHIRPath `=` on two items: known is false when the answer
// is empty (dates of different precision, a primitive without a value).
func equality(a, b Node) (eq, known bool) {
	if a.Value == nil || b.Value == nil {
		return false, false
	}
	if isTemporal(a.Type) || isTemporal(b.Type) {
		as, ok1 := a.Value.(string)
		bs, ok2 := b.Value.(string)
		if ok1 && ok2 {
			if c, known, err := compareTemporal(as, a.Type, bs, b.Type); err == nil {
				return c == 0, known
			}
		}
	}
	if eq, ok := equal(a, b); ok {
		return eq, true
	}
	return deepEqual(a.Value, b.Value), true
}

// deepEqual compares JSON values member by member, numbers by value.
func deepEqual(x, y any) bool {
	switch xv := x.(type) {
	case map[string]any:
		yv, ok := y.(map[string]any)
		if !ok || len(xv) != len(yv) {
			return false
		}
		for k, v := range xv {
			w, ok := yv[k]
			if !ok || !deepEqual(v, w) {
				return false
			}
		}
		return true
	case []any:
		yv, ok := y.([]any)
		if !ok || len(xv) != len(yv) {
			return false
		}
		for i := range xv {
			if !deepEqual(xv[i], yv[i]) {
				return false
			}
		}
		return true
	case json.Number:
		eq, _ := equal(Node{Value: xv}, Node{Value: y})
		return eq
	}
	return x == y
}

// equivalentLists is `~`: both empty is true; items match in any order;
// strings ignore case and collapse whitespace.
func equivalentLists(l, r []Node) bool {
	if len(l) != len(r) {
		return false
	}
	used := make([]bool, len(r))
	for _, a := range l {
		found := false
		for j, b := range r {
			if !used[j] && equivalent(a, b) {
				used[j], found = true, true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func equivalent(a, b Node) bool {
	as, ok1 := a.Value.(string)
	bs, ok2 := b.Value.(string)
	if ok1 && ok2 && !isTemporal(a.Type) && !isTemporal(b.Type) {
		return strings.EqualFold(strings.Join(strings.Fields(as), " "), strings.Join(strings.Fields(bs), " "))
	}
	eq, known := equality(a, b)
	return eq && known
}

// both evaluates a binary operator's two sides on the same focus.
func both(e *env, focus []Node, l, r expr) ([]Node, []Node, error) {
	lv, err := l.eval(e, focus)
	if err != nil {
		return nil, nil, err
	}
	rv, err := r.eval(e, focus)
	return lv, rv, err
}

// singles evaluates the sides of an operator that takes one item each: ok
// is false when either side is empty (the result is empty) or on an error,
// and more than one item is an error.
func singles(e *env, focus []Node, op string, l, r expr) (Node, Node, bool, error) {
	lv, rv, err := both(e, focus, l, r)
	if err != nil || len(lv) == 0 || len(rv) == 0 {
		return Node{}, Node{}, false, err
	}
	if len(lv) > 1 || len(rv) > 1 {
		return Node{}, Node{}, false, fmt.Errorf("%s needs single items, not %d and %d", op, len(lv), len(rv))
	}
	return lv[0], rv[0], true, nil
}

// ordering is < <= > >=.
type ordering struct {
	op   string
	l, r expr
}

func (o *ordering) eval(e *env, focus []Node) ([]Node, error) {
	l, r, ok, err := singles(e, focus, o.op, o.l, o.r)
	if !ok {
		return nil, err
	}
	c, known, err := compare(l, r)
	if err != nil || !known {
		return nil, err
	}
	switch o.op {
	case "<":
		return boolean(c < 0), nil
	case "<=":
		return boolean(c <= 0), nil
	case ">":
		return boolean(c > 0), nil
	}
	return boolean(c >= 0), nil
}

// compare orders two items: numbers by value, dates and times (typed, or
// strings that read as dates) by instant at their common precision,
// other strings by code point, quantities of the same unit by value.
// known is false when FHIRPath answers empty.
func compare(a, b Node) (c int, known bool, err error) {
	if a.Value == nil || b.Value == nil {
		return 0, false, nil
	}
	if x, ok := numberOf(a); ok {
		if y, ok := numberOf(b); ok {
			return cmpFloat(x, y), true, nil
		}
	}
	as, ok1 := a.Value.(string)
	bs, ok2 := b.Value.(string)
	if ok1 && ok2 {
		if isTemporal(a.Type) || isTemporal(b.Type) || looksLikeDate(as) && looksLikeDate(bs) {
			if c, known, err := compareTemporal(as, a.Type, bs, b.Type); err == nil {
				return c, known, nil
			}
		}
		return strings.Compare(as, bs), true, nil
	}
	if qa, ok := a.Value.(map[string]any); ok {
		if qb, ok := b.Value.(map[string]any); ok {
			x, ok1 := numberOf(Node{Value: qa["value"]})
			y, ok2 := numberOf(Node{Value: qb["value"]})
			if !ok1 || !ok2 {
				return 0, false, nil
			}
			if unitOf(qa) != unitOf(qb) {
				return 0, false, nil // no unit conversion
			}
			return cmpFloat(x, y), true, nil
		}
	}
	return 0, false, fmt.Errorf("cannot compare %v with %v", a.Value, b.Value)
}

func unitOf(q map[string]any) string {
	code, _ := q["code"].(string)
	system, _ := q["system"].(string)
	if code != "" {
		return system + "|" + code
	}
	unit, _ := q["unit"].(string)
	return "|" + unit
}

func cmpFloat(x, y float64) int {
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
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

// numberOf reads a JSON number as a float.
func numberOf(n Node) (float64, bool) {
	s, ok := n.Value.(json.Number)
	if !ok {
		return 0, false
	}
	f, err := strconv.ParseFloat(string(s), 64)
	return f, err == nil
}

func isIntegerText(s string) bool {
	if s == "" {
		return false
	}
	if s[0] == '-' || s[0] == '+' {
		s = s[1:]
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// smallInts are boxed once, so that count() allocates nothing.
var smallInts [256]any

func init() {
	for i := range smallInts {
		smallInts[i] = json.Number(strconv.Itoa(i))
	}
}

func integerNode(i int) Node {
	if i >= 0 && i < len(smallInts) {
		return Node{Value: smallInts[i], Type: "integer"}
	}
	return Node{Value: json.Number(strconv.Itoa(i)), Type: "integer"}
}

func decimalNode(f float64) Node {
	return Node{Value: json.Number(strconv.FormatFloat(f, 'f', -1, 64)), Type: "decimal"}
}

// membership is `in` and `contains`: item must be a single item.
type membership struct{ item, list expr }

func (m *membership) eval(e *env, focus []Node) ([]Node, error) {
	item, err := m.item.eval(e, focus)
	if err != nil {
		return nil, err
	}
	list, err := m.list.eval(e, focus)
	if err != nil || len(item) == 0 {
		return nil, err
	}
	if len(item) > 1 {
		return nil, fmt.Errorf("membership of %d items", len(item))
	}
	return boolean(memberOf(item[0], list)), nil
}

func memberOf(n Node, list []Node) bool {
	for _, m := range list {
		if eq, known := equality(n, m); eq && known {
			return true
		}
	}
	return false
}

// arith is + - * / div mod.
type arith struct {
	op   string
	l, r expr
}

func (a *arith) eval(e *env, focus []Node) ([]Node, error) {
	l, r, ok, err := singles(e, focus, a.op, a.l, a.r)
	if !ok {
		return nil, err
	}
	return arithmetic(e, a.op, l, r)
}

func arithmetic(e *env, op string, a, b Node) ([]Node, error) {
	if as, ok := a.Value.(string); ok && op == "+" {
		if bs, ok := b.Value.(string); ok {
			return e.one(Node{Value: as + bs, Type: "string"}), nil
		}
	}
	as, ok1 := a.Value.(json.Number)
	bs, ok2 := b.Value.(json.Number)
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("%s on %v and %v is not supported", op, a.Value, b.Value)
	}
	if isIntegerText(string(as)) && isIntegerText(string(bs)) && op != "/" {
		x, err1 := strconv.ParseInt(string(as), 10, 64)
		y, err2 := strconv.ParseInt(string(bs), 10, 64)
		if err1 == nil && err2 == nil {
			var z int64
			switch op {
			case "+":
				z = x + y
			case "-":
				z = x - y
			case "*":
				z = x * y
			case "div", "mod":
				if y == 0 {
					return nil, nil
				}
				if z = x / y; op == "mod" {
					z = x % y
				}
			}
			return e.one(integerNode(int(z))), nil
		}
	}
	x, _ := numberOf(a)
	y, _ := numberOf(b)
	var z float64
	switch op {
	case "+":
		z = x + y
	case "-":
		z = x - y
	case "*":
		z = x * y
	case "/", "div", "mod":
		if y == 0 {
			return nil, nil
		}
		switch op {
		case "/":
			z = x / y
		case "div":
			z = math.Trunc(x / y)
		default:
			z = math.Mod(x, y)
		}
	}
	if op == "div" {
		return e.one(integerNode(int(z))), nil
	}
	return e.one(decimalNode(z)), nil
}

// concat is &: strings, an empty side counting as ”.
type concat struct{ l, r expr }

func (c *concat) eval(e *env, focus []Node) ([]Node, error) {
	var parts [2]string
	for i, side := range [2]expr{c.l, c.r} {
		r, err := side.eval(e, focus)
		if err != nil {
			return nil, err
		}
		if len(r) > 1 {
			return nil, fmt.Errorf("& needs single items, not %d", len(r))
		}
		if len(r) == 1 {
			parts[i] = stringOf(r[0])
		}
	}
	return e.one(Node{Value: parts[0] + parts[1], Type: "string"}), nil
}

// stringOf is the text of a primitive (toString()).
func stringOf(n Node) string {
	switch v := n.Value.(type) {
	case string:
		return v
	case json.Number:
		return string(v)
	case bool:
		return strconv.FormatBool(v)
	case map[string]any: // a Quantity
		if val, ok := v["value"].(json.Number); ok {
			unit, _ := v["code"].(string)
			if unit == "" {
				unit, _ = v["unit"].(string)
			}
			return string(val) + " '" + unit + "'"
		}
	}
	return ""
}

func isTemporal(t string) bool {
	return t == "date" || t == "dateTime" || t == "instant" || t == "time"
}

// moment is a parsed date, dateTime or time, to its precision.
type moment struct {
	time bool // a time of day, not a date
	prec int  // components present: year, month, day, hour, minute, second
	c    [6]int
	nano int
	tz   bool
	off  int // seconds east of UTC
}

// dateLiteral reads the text of an @ literal.
func dateLiteral(s string) (Node, error) {
	typ := "date"
	switch {
	case strings.HasPrefix(s, "T"):
		typ = "time"
		s = s[1:]
	case strings.HasSuffix(s, "T"):
		typ = "dateTime"
		s = s[:len(s)-1]
	case strings.Contains(s, "T"):
		typ = "dateTime"
	}
	if _, ok := parseMoment(s, typ == "time"); !ok {
		return Node{}, fmt.Errorf("invalid %s literal @%s", typ, s)
	}
	return Node{Value: s, Type: typ}, nil
}

func looksLikeDate(s string) bool {
	_, ok := parseMoment(s, false)
	return ok
}

// parseMoment reads YYYY[-MM[-DD[Thh[:mm[:ss[.fff]]][Z|±hh:mm]]]], or with
// isTime hh[:mm[:ss[.fff]]].
func parseMoment(s string, isTime bool) (moment, bool) {
	var m moment
	m.time = isTime
	i := 0
	digits := func(n int) (int, bool) {
		if i+n > len(s) {
			return 0, false
		}
		v := 0
		for _, c := range []byte(s[i : i+n]) {
			if c < '0' || c > '9' {
				return 0, false
			}
			v = v*10 + int(c-'0')
		}
		i += n
		return v, true
	}
	sep := func(c byte) bool {
		if i < len(s) && s[i] == c {
			i++
			return true
		}
		return false
	}
	start := 3 // the hour
	if !isTime {
		y, ok := digits(4)
		if !ok {
			return m, false
		}
		m.c[0], m.prec = y, 1
		for k, n := range []int{1, 2} {
			if !sep('-') {
				break
			}
			v, ok := digits(2)
			if !ok {
				return m, false
			}
			m.c[n], m.prec = v, k+2
		}
		if m.prec < 3 || !sep('T') {
			return m, i == len(s)
		}
	}
	for k := start; k < 6; k++ {
		if k > start && !sep(':') {
			break
		}
		v, ok := digits(2)
		if !ok {
			return m, false
		}
		m.c[k], m.prec = v, k+1
	}
	if m.prec == 6 && sep('.') {
		j := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		frac := s[j:i]
		if frac == "" {
			return m, false
		}
		if len(frac) > 9 {
			frac = frac[:9]
		}
		f, _ := strconv.Atoi(frac)
		for n := len(frac); n < 9; n++ {
			f *= 10
		}
		m.nano = f
	}
	if !isTime && i < len(s) {
		switch s[i] {
		case 'Z':
			i++
			m.tz = true
		case '+', '-':
			neg := s[i] == '-'
			i++
			h, ok1 := digits(2)
			ok2 := sep(':')
			mi, ok3 := digits(2)
			if !ok1 || !ok2 || !ok3 {
				return m, false
			}
			m.tz, m.off = true, (h*60+mi)*60
			if neg {
				m.off = -m.off
			}
		}
	}
	return m, i == len(s)
}

// utc moves a dateTime with hours to UTC; one without a timezone is taken
// as UTC.
func (m moment) utc() moment {
	if m.time || m.prec < 4 || !m.tz || m.off == 0 {
		return m
	}
	t := time.Date(m.c[0], time.Month(m.c[1]), m.c[2], m.c[3], m.c[4], m.c[5], 0, time.UTC).Add(-time.Duration(m.off) * time.Second)
	m.c = [6]int{t.Year(), int(t.Month()), t.Day(), t.Hour(), t.Minute(), t.Second()}
	m.off = 0
	return m
}

// compareTemporal orders two dates, dateTimes or times at the precision
// both have; when they agree there and one is more precise, the answer is
// unknown. err reports text that is not a date or time.
func compareTemporal(a, at, b, bt string) (c int, known bool, err error) {
	ma, ok1 := parseMoment(a, at == "time")
	mb, ok2 := parseMoment(b, bt == "time")
	if !ok1 || !ok2 || ma.time != mb.time {
		return 0, false, fmt.Errorf("not comparable as dates: %q, %q", a, b)
	}
	ma, mb = ma.utc(), mb.utc()
	p := min(ma.prec, mb.prec)
	for k := 0; k < p; k++ {
		x, y := ma.c[k], mb.c[k]
		if k == 5 {
			x, y = x*1e9+ma.nano, y*1e9+mb.nano
		}
		if x != y {
			if x < y {
				return -1, true, nil
			}
			return 1, true, nil
		}
	}
	if ma.prec != mb.prec {
		return 0, false, nil
	}
	return 0, true, nil
}
