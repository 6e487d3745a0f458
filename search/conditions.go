package search

import (
	"strconv"
	"strings"
	"time"

	"github.com/fhirserver/fhirserver/profiles"
)

// dateValue is a search date with its prefix: the range [lo, hi) its
// precision covers.
type dateValue struct {
	prefix string
	lo, hi time.Time
}

func parseDates(name string, values []string) ([]dateValue, error) {
	out := make([]dateValue, len(values))
	for i, val := range values {
		prefix, rest := prefixOf(val)
		lo, hi, err := DateRange(rest)
		if err != nil {
			return nil, invalid(name, "%s: %q is not a date with an optional prefix (eq, ne, gt, lt, ge, le, sa, eb, ap)", name, val)
		}
		out[i] = dateValue{prefix, lo, hi}
	}
	return out, nil
}

// sql compares the target range [lo, hi) (SQL expressions) with the search
// range, per the prefix definitions of FHIR R4 search.
func (d dateValue) sql(arg func(any) string, lo, hi string) string {
	// Placeholders are taken only for the values a prefix uses: PostgreSQL
	// refuses a parameter that the statement never mentions.
	slo := func() string { return arg(d.lo) }
	shi := func() string { return arg(d.hi) }
	contained := func() string { return lo + " >= " + slo() + " AND " + hi + " <= " + shi() }
	switch d.prefix {
	case "ne":
		return "NOT (" + contained() + ")"
	case "gt":
		return hi + " > " + shi()
	case "lt":
		return lo + " < " + slo()
	case "ge":
		return hi + " > " + shi() + " OR (" + contained() + ")"
	case "le":
		return lo + " < " + slo() + " OR (" + contained() + ")"
	case "sa":
		return lo + " >= " + shi()
	case "eb":
		return hi + " <= " + slo()
	case "ap":
		// within a tenth of the distance from now, at least a day
		gap := time.Since(d.lo)
		if gap < 0 {
			gap = -gap
		}
		w := max(gap/10, 24*time.Hour)
		return lo + " < " + arg(d.hi.Add(w)) + " AND " + hi + " > " + arg(d.lo.Add(-w))
	}
	return contained()
}

func dateCondition(p *Param, name, modifier string, values []string) (builder, error) {
	if modifier != "" {
		return nil, unknownModifier(name, modifier)
	}
	dates, err := parseDates(name, values)
	if err != nil {
		return nil, err
	}
	return func(arg func(any) string, v string) string {
		ors := make([]string, len(dates))
		for i, d := range dates {
			ors[i] = "(" + d.sql(arg, "x.lo", "x.hi") + ")"
		}
		return index("search_date", p, v, strings.Join(ors, " OR "), arg)
	}, nil
}

// lastUpdated compares the version's own timestamp, an instant.
func lastUpdated(name, value string) (builder, error) {
	dates, err := parseDates(name, splitOr(value))
	if err != nil {
		return nil, err
	}
	return func(arg func(any) string, v string) string {
		ors := make([]string, len(dates))
		for i, d := range dates {
			ors[i] = "(" + d.sql(arg, v+".last_updated", "("+v+".last_updated + interval '1 microsecond')") + ")"
		}
		return "(" + strings.Join(ors, " OR ") + ")"
	}, nil
}

// numberValue is a search number with its prefix and the half-width of
// the range its precision implies ("100" is 99.5 to 100.5).
type numberValue struct {
	prefix, value, half string
}

func parseNumber(name, val string) (numberValue, error) {
	prefix, rest := prefixOf(val)
	if !numberRE.MatchString(rest) {
		return numberValue{}, invalid(name, "%s: %q is not a number with an optional prefix", name, val)
	}
	mantissa, exp := rest, 0
	if i := strings.IndexAny(rest, "eE"); i >= 0 {
		mantissa = rest[:i]
		exp, _ = strconv.Atoi(rest[i+1:])
	}
	if len(rest) > maxNumberLength || exp < -maxExponent || exp > maxExponent {
		return numberValue{}, invalid(name, "%s: %q is out of range (at most %d characters, exponent within ±%d)", name, val, maxNumberLength, maxExponent)
	}
	decimals := 0
	if i := strings.IndexByte(mantissa, '.'); i >= 0 {
		decimals = len(mantissa) - i - 1
	}
	return numberValue{prefix: prefix, value: rest, half: "5e" + strconv.Itoa(exp-decimals-1)}, nil
}

// sql compares the target value t (an SQL expression).
func (n numberValue) sql(arg func(any) string, t string) string {
	v := arg(n.value) + "::numeric"
	switch n.prefix {
	case "ne":
		h := arg(n.half) + "::numeric"
		return "NOT (" + t + " >= " + v + " - " + h + " AND " + t + " < " + v + " + " + h + ")"
	case "gt", "sa":
		return t + " > " + v
	case "lt", "eb":
		return t + " < " + v
	case "ge":
		return t + " >= " + v
	case "le":
		return t + " <= " + v
	case "ap":
		return "abs(" + t + " - " + v + ") <= abs(" + v + ") / 10"
	}
	h := arg(n.half) + "::numeric"
	return t + " >= " + v + " - " + h + " AND " + t + " < " + v + " + " + h
}

func numberCondition(p *Param, name, modifier string, values []string) (builder, error) {
	if modifier != "" {
		return nil, unknownModifier(name, modifier)
	}
	nums := make([]numberValue, len(values))
	for i, val := range values {
		n, err := parseNumber(name, val)
		if err != nil {
			return nil, err
		}
		nums[i] = n
	}
	return func(arg func(any) string, v string) string {
		ors := make([]string, len(nums))
		for i, n := range nums {
			ors[i] = "(" + n.sql(arg, "x.value") + ")"
		}
		return index("search_number", p, v, strings.Join(ors, " OR "), arg)
	}, nil
}

// quantityValue is [prefix]number[|system|code]; an empty system matches
// the code against code or unit.
type quantityValue struct {
	n            numberValue
	system, code string
}

func parseQuantity(name, val string) (quantityValue, error) {
	var q quantityValue
	parts := splitEscaped(val, '|')
	if len(parts) != 1 && len(parts) != 3 {
		return q, invalid(name, "%s: %q is not number|system|code", name, val)
	}
	n, err := parseNumber(name, unescape(parts[0]))
	if err != nil {
		return q, err
	}
	q.n = n
	if len(parts) == 3 {
		q.system, q.code = unescape(parts[1]), unescape(parts[2])
	}
	return q, nil
}

func (q quantityValue) sql(arg func(any) string, value, system, code, unit string) string {
	cond := q.n.sql(arg, value)
	switch {
	case q.system != "":
		cond += " AND " + system + " = " + arg(q.system) + " AND " + code + " = " + arg(q.code)
	case q.code != "":
		c := arg(q.code)
		cond += " AND (" + code + " = " + c + " OR " + unit + " = " + c + ")"
	}
	return cond
}

func quantityCondition(p *Param, name, modifier string, values []string) (builder, error) {
	if modifier != "" {
		return nil, unknownModifier(name, modifier)
	}
	qs := make([]quantityValue, len(values))
	for i, val := range values {
		q, err := parseQuantity(name, val)
		if err != nil {
			return nil, err
		}
		qs[i] = q
	}
	return func(arg func(any) string, v string) string {
		ors := make([]string, len(qs))
		for i, q := range qs {
			ors[i] = "(" + q.sql(arg, "x.value", "x.system", "x.code", "x.unit") + ")"
		}
		return index("search_quantity", p, v, strings.Join(ors, " OR "), arg)
	}, nil
}

// referenceCondition matches Type/id, a bare id, or an absolute URL (local
// when it starts with this server's base), with :Type and :identifier.
func referenceCondition(p *Param, name, modifier string, values []string, o Options) (builder, error) {
	if modifier == "identifier" {
		idParam := &Param{Code: p.Code + ":identifier", Type: "token", base: p.base}
		for _, c := range p.codes() {
			idParam.indexAs = append(idParam.indexAs, c+":identifier")
		}
		return tokenCondition("", idParam, name, "", values, Options{})
	}
	typed := ""
	if modifier != "" {
		if !profiles.IsResourceType(modifier) {
			return nil, unknownModifier(name, modifier)
		}
		typed = modifier
	}
	one := func(arg func(any) string, val string) string {
		if typ, id, ok := localReference(val, o.BaseURL); ok {
			if typed != "" && typ != typed {
				return "false"
			}
			return "x.target_type = " + arg(typ) + " AND " + equals(arg, "x.target_id", id)
		}
		if strings.Contains(val, ":") { // absolute, elsewhere
			url, _, _ := strings.Cut(val, "|")
			return equals(arg, "x.url", url)
		}
		cond := equals(arg, "x.target_id", val)
		if typed != "" {
			cond += " AND x.target_type = " + arg(typed)
		}
		return cond
	}
	cond := anyOf(values, one)
	return func(arg func(any) string, v string) string { return index("search_reference", p, v, cond(arg), arg) }, nil
}

// localReference reads Type/id[/_history/n], also behind this server's base.
func localReference(val, base string) (typ, id string, ok bool) {
	if base != "" && strings.HasPrefix(val, base+"/") {
		val = val[len(base)+1:]
	} else if strings.Contains(val, ":") {
		return "", "", false
	}
	if i := strings.Index(val, "/_history/"); i >= 0 {
		val = val[:i]
	}
	typ, id, ok = strings.Cut(val, "/")
	return typ, id, ok && profiles.IsResourceType(typ) && id != "" && !strings.Contains(id, "/")
}

// current renders the conditions that version alias c is the current,
// non-deleted version of its resource.
func current(c string) string {
	return "NOT " + c + ".deleted AND NOT EXISTS (SELECT 1 FROM resource_version n" + c + " WHERE n" + c + ".type = " + c +
		".type AND n" + c + ".id = " + c + ".id AND n" + c + ".version > " + c + ".version)"
}

// chain is ref[:Type].param=value: resources whose reference points at a
// current resource on which param=value holds.
func (r *Registry) chain(p *Param, name, modifier, chained, value string, o Options, depth int) (builder, error) {
	if p.Type != "reference" {
		return nil, invalid(name, "%s is not a reference: it cannot be chained", p.Code)
	}
	if depth >= maxChain {
		return nil, tooCostly("chains and _has are limited to %d links", maxChain).At(name)
	}
	targets := p.Targets
	if modifier != "" {
		if !profiles.IsResourceType(modifier) {
			return nil, unknownModifier(name, modifier)
		}
		targets = []string{modifier}
	}
	if n := r.spans(targets, chained); n > MaxChainTypes {
		return nil, tooCostly("%s spans %d resource types; a chain link may span at most %d: name one (%s:Type.%s)",
			p.Code, n, MaxChainTypes, p.Code, chained).At(name)
	}
	type link struct {
		typ  string
		cond builder
	}
	var links []link
	for _, t := range targets {
		b, err := r.condition(t, chained, value, o, depth+1)
		if err != nil {
			return nil, err
		}
		if b != nil {
			links = append(links, link{t, b})
		}
	}
	if len(links) == 0 {
		return nil, invalid(name, "%s is not a search parameter of %s", chained, strings.Join(targets, " or "))
	}
	alias := "c" + strconv.Itoa(depth+1)
	return func(arg func(any) string, v string) string {
		ors := make([]string, len(links))
		for i, l := range links {
			ors[i] = "(x.target_type = " + arg(l.typ) + " AND EXISTS (SELECT 1 FROM resource_version " + alias +
				" WHERE " + alias + ".type = x.target_type AND " + alias + ".id = x.target_id AND " + current(alias) +
				" AND " + l.cond(arg, alias) + "))"
		}
		return index("search_reference", p, v, strings.Join(ors, " OR "), arg)
	}, nil
}

// reverseChain is _has:Type:ref:param=value: resources that a current
// resource of Type points at through ref, where param=value holds on it.
func (r *Registry) reverseChain(typ, name, value string, o Options, depth int) (builder, error) {
	parts := strings.SplitN(name, ":", 4)
	if len(parts) != 4 || !profiles.IsResourceType(parts[1]) {
		return nil, invalid(name, "_has takes the form _has:Type:reference:parameter")
	}
	if depth >= maxChain {
		return nil, tooCostly("chains and _has are limited to %d links", maxChain).At(name)
	}
	src, refCode, inner := parts[1], parts[2], parts[3]
	ref := r.Param(src, refCode)
	if ref == nil || ref.Type != "reference" {
		return nil, invalid(name, "%s is not a reference parameter of %s", refCode, src)
	}
	cond, err := r.condition(src, inner, value, o, depth+1)
	if err != nil {
		return nil, err
	}
	if cond == nil {
		return nil, invalid(name, "%s is not a search parameter of %s", inner, src)
	}
	alias := "h" + strconv.Itoa(depth+1)
	return func(arg func(any) string, v string) string {
		return "EXISTS (SELECT 1 FROM search_reference x" + alias + " JOIN resource_version " + alias + " ON " +
			alias + ".type = x" + alias + ".type AND " + alias + ".id = x" + alias + ".id AND " + alias + ".version = x" + alias + ".version" +
			" WHERE x" + alias + ".type = " + arg(src) + " AND x" + alias + ".param = ANY(" + arg(ref.codes()) + ")" +
			restrictTarget(arg, "x"+alias, ref) +
			" AND x" + alias + ".target_type = " + v + ".type AND x" + alias + ".target_id = " + v + ".id AND " +
			current(alias) + " AND " + cond(arg, alias) + ")"
	}, nil
}

// restrictTarget adds the target type a shared index row must have to
// answer p (patient is subject pointing at a Patient).
func restrictTarget(arg func(any) string, x string, p *Param) string {
	if p.targetType == "" {
		return ""
	}
	return " AND " + x + ".target_type = " + arg(p.targetType)
}
