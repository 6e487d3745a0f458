package search

import (
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/fhirserver/fhirserver/outcome"
	"github.com/fhirserver/fhirserver/storage"
)

// Query is a parsed search: what to match, how many per page, and the
// parameters that were applied, in the form the self link repeats.
type Query struct {
	Criteria storage.Criteria
	Count    int
	Total    string // none, estimate or accurate; "" when not asked
	Includes []Include
	Summary  string   // _summary: true, text, data, count or false
	Elements []string // _elements
	Applied  url.Values
}

const (
	DefaultCount = 50
	MaxCount     = 1000
)

// Options are what a search needs besides its parameters.
type Options struct {
	Strict  bool   // Prefer: handling=strict: unknown parameters are errors
	BaseURL string // this server's FHIR base, so that its absolute references are local
	// Blind turns a token searched for into what the index holds for it:
	// the blind index value of an identifier or code encrypted at rest.
	Blind func(typ, param, system, code string) string
	// BlindString does so for a string parameter indexed blind (ok false
	// for others): such a value matches whole, not by prefix.
	BlindString func(typ, param, value string, exact bool) (string, bool)
}

// paging and format parameters are read by the caller or the HTTP layer.
var controlParams = map[string]bool{"_format": true, "_pretty": true, "_cursor": true, "_before": true, "_snapshot": true, "_offset": true}

// notYet are result parameters the server does not apply yet: ignored,
// and refused under strict handling, like an unknown parameter.
var notYet = map[string]bool{"_contained": true, "_containedType": true}

// Parse reads the parameters of a search on typ. Repeated parameters are
// ANDed and comma-separated values ORed. An unknown or unsupported
// parameter is left out (and out of Applied) unless strict, when it is a
// 400; a malformed value or an unknown modifier is always a 400 naming it.
func (r *Registry) Parse(typ string, q url.Values, o Options) (Query, error) {
	out := Query{Criteria: storage.Criteria{Type: typ}, Count: DefaultCount, Applied: url.Values{}}
	if err := checkText(q); err != nil {
		return out, err
	}
	var spent budget
	lead, leadRank, leadAt := (*storage.Lead)(nil), noLead, -1
	var comp compartment
	for _, name := range sortedKeys(q) {
		values := q[name]
		switch {
		case controlParams[name]:
			continue
		case name == "_count":
			n, err := strconv.Atoi(values[len(values)-1])
			if err != nil || n < 0 {
				return out, invalid(name, "_count must be a non-negative integer")
			}
			out.Count = min(n, MaxCount)
			continue
		case name == "_total":
			t := values[len(values)-1]
			if t != "none" && t != "estimate" && t != "accurate" {
				return out, invalid(name, "_total must be none, estimate or accurate")
			}
			out.Total = t
			out.Applied[name] = []string{t}
			continue
		}
		switch name {
		case "_summary":
			v := values[len(values)-1]
			if v != "true" && v != "text" && v != "data" && v != "count" && v != "false" {
				return out, invalid(name, "_summary must be true, text, data, count or false")
			}
			out.Summary, out.Applied[name] = v, []string{v}
			continue
		case "_elements":
			for _, v := range values {
				for _, e := range strings.Split(v, ",") {
					if e = strings.TrimSpace(e); e != "" {
						out.Elements = append(out.Elements, e)
					}
				}
			}
			out.Applied[name] = values
			continue
		}
		if name == "_sort" {
			keys, err := r.parseSort(typ, values[len(values)-1])
			if err != nil {
				return out, err
			}
			out.Criteria.Sort = keys
			out.Applied[name] = values[len(values)-1:]
			continue
		}
		if base, _, _ := strings.Cut(name, ":"); base == "_include" || base == "_revinclude" {
			if err := spent.include(name, values); err != nil {
				return out, err
			}
			for _, v := range values {
				inc, err := r.parseInclude(name, v)
				if err != nil {
					return out, err
				}
				out.Includes = append(out.Includes, inc)
			}
			out.Applied[name] = values
			continue
		}
		if notYet[name] {
			if o.Strict {
				return out, outcome.E(outcome.Invalid, "%s is not supported yet", name).At(name).WithCode("not-supported")
			}
			continue
		}
		if err := spent.criterion(name, values); err != nil {
			return out, err
		}
		clauses, err := r.clauses(typ, name, values, o)
		if err != nil {
			return out, atParam(err, name)
		}
		if clauses == nil { // not applied
			if o.Strict {
				return out, outcome.E(outcome.Invalid, "search parameter %q is not supported on %s", name, typ).At(name).WithCode("not-supported")
			}
			continue
		}
		out.Applied[name] = values
		if code, _, _ := splitName(name); code == "_lastUpdated" { // a column of the version row
			for _, cl := range clauses {
				out.Criteria.Filters = append(out.Criteria.Filters, func(arg func(any) string) string { return cl(arg, "v") })
			}
			continue
		}
		for i, v := range values {
			at := len(out.Criteria.Clauses) + i
			if rank, l := r.leadFor(typ, name, v, o); rank > leadRank {
				lead, leadRank, leadAt = l, rank, at
			}
			if id := r.patientOf(typ, name, v, o); id != "" && comp.patient == "" {
				comp.patient = id
			}
			if rank, l := r.compartmentToken(typ, name, v, o); rank > comp.rank {
				comp.token, comp.rank, comp.tokenAt = l, rank, at
			}
		}
		out.Criteria.Clauses = append(out.Criteria.Clauses, clauses...)
	}
	// The lead replaces the clause it stands for; a compartment's patient
	// clause stays, checked on the few rows the lead finds (the compartment
	// holds every patient a version refers to, not only its subject).
	switch {
	case comp.patient != "" && comp.token != nil:
		out.Criteria.Lead = comp.lead()
		out.Criteria.Clauses = slices.Delete(out.Criteria.Clauses, comp.tokenAt, comp.tokenAt+1)
	case lead != nil:
		out.Criteria.Lead = lead
		out.Criteria.Clauses = slices.Delete(out.Criteria.Clauses, leadAt, leadAt+1)
	}
	return out, checkBinds(out.Criteria)
}

// ParseConditional reads the criteria of a conditional create, update or
// delete, or of a conditional reference. Ignoring a parameter there could
// make a write hit the wrong resource, so every unknown one is refused.
func (r *Registry) ParseConditional(typ, rawQuery, base string, blind func(typ, param, system, code string) string) (storage.Criteria, error) {
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return storage.Criteria{}, outcome.E(outcome.Invalid, "malformed conditional criteria")
	}
	if len(q) == 0 {
		return storage.Criteria{}, outcome.E(outcome.Invalid, "conditional criteria are empty")
	}
	for name := range q {
		if strings.HasPrefix(name, "_") && r.Param(typ, strings.SplitN(name, ":", 2)[0]) == nil {
			return storage.Criteria{}, invalid(name, "%s is not a criterion", name)
		}
	}
	parsed, err := r.Parse(typ, q, Options{Strict: true, BaseURL: base, Blind: blind})
	return parsed.Criteria, err
}

func invalid(name, format string, args ...any) error {
	return outcome.E(outcome.Invalid, format, args...).At(name)
}

func sortedKeys(q url.Values) []string {
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// builder renders a condition on the candidate version with alias v.
type builder func(arg func(any) string, v string) string

func clause(b builder) storage.KeyClause { return storage.KeyClause(b) }

// clauses turns one parameter, with each of its repetitions, into
// conditions. nil (without error) means the parameter is not applied.
func (r *Registry) clauses(typ, name string, values []string, o Options) ([]storage.KeyClause, error) {
	var out []storage.KeyClause
	for _, value := range values {
		b, err := r.condition(typ, name, value, o, 0)
		if err != nil || b == nil {
			return nil, err
		}
		out = append(out, clause(b))
	}
	return out, nil
}

const maxChain = 3

// condition builds the condition of name=value on typ; depth counts chain
// links. A nil builder means "not supported".
func (r *Registry) condition(typ, name, value string, o Options, depth int) (builder, error) {
	code, modifier, chained := splitName(name)
	if name == "_has" || strings.HasPrefix(name, "_has:") {
		return r.reverseChain(typ, name, value, o, depth)
	}
	if code == "_id" {
		if chained != "" || modifier != "" && modifier != "missing" {
			return nil, invalid(name, "_id takes no modifier")
		}
		ids := splitOr(value)
		return func(arg func(any) string, v string) string { return v + ".id = ANY(" + arg(ids) + ")" }, nil
	}
	if code == "_lastUpdated" {
		return lastUpdated(name, value)
	}
	p := r.Param(typ, code)
	if p == nil || p.Type == "special" {
		return nil, nil
	}
	if chained != "" {
		return r.chain(p, name, modifier, chained, value, o, depth)
	}
	if modifier == "missing" {
		return missing(p, name, value)
	}
	values := splitOr(value)
	switch p.Type {
	case "string":
		return stringCondition(typ, p, name, modifier, values, o)
	case "token":
		return tokenCondition(typ, p, name, modifier, values, o)
	case "reference":
		return referenceCondition(p, name, modifier, values, o)
	case "date":
		return dateCondition(p, name, modifier, values)
	case "number":
		return numberCondition(p, name, modifier, values)
	case "quantity":
		return quantityCondition(p, name, modifier, values)
	case "uri":
		return uriCondition(p, name, modifier, values)
	case "composite":
		return r.compositeCondition(p, name, modifier, values)
	}
	return nil, nil
}

// splitName reads code[:modifier][.chain].
func splitName(name string) (code, modifier, chained string) {
	code, chained, _ = strings.Cut(name, ".")
	code, modifier, _ = strings.Cut(code, ":")
	return code, modifier, chained
}

// splitOr splits a value on unescaped commas and unescapes each part.
func splitOr(v string) []string {
	var parts []string
	for _, p := range splitEscaped(v, ',') {
		parts = append(parts, unescape(p))
	}
	return parts
}

// splitEscaped splits on sep where it is not escaped, keeping escapes.
func splitEscaped(v string, sep byte) []string {
	var parts []string
	start := 0
	for i := 0; i < len(v); i++ {
		if v[i] == '\\' {
			i++
			continue
		}
		if v[i] == sep {
			parts = append(parts, v[start:i])
			start = i + 1
		}
	}
	return append(parts, v[start:])
}

func unescape(v string) string {
	if !strings.Contains(v, `\`) {
		return v
	}
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		if v[i] == '\\' && i+1 < len(v) {
			i++
		}
		b.WriteByte(v[i])
	}
	return b.String()
}

// index renders EXISTS over the index rows of parameter p of version v
// that satisfy cond (which refers to the index row as x).
func index(table string, p *Param, v, cond string, arg func(any) string) string {
	return "EXISTS (SELECT 1 FROM " + table + " x WHERE " + rowsOf(arg, table, p, v) + " AND (" + cond + "))"
}

// rowsOf selects the index rows x of table that hold parameter p of
// version v, through shared rows if need be. A table keyed by parameter
// id (storage.KeyedByParamID) needs no type: the id fixes it.
func rowsOf(arg func(any) string, table string, p *Param, v string) string {
	key := "x.id = " + v + ".id AND x.version = " + v + ".version AND "
	codes := p.codes()
	if storage.KeyedByParamID(table) {
		ids := make([]int64, len(codes))
		for i, c := range codes {
			ids[i] = storage.ParamID(p.base, c)
		}
		if len(ids) == 1 {
			return key + "x.pid = " + arg(ids[0])
		}
		return key + "x.pid = ANY(" + arg(ids) + ")"
	}
	key = "x.type = " + v + ".type AND " + key
	if len(codes) == 1 {
		return key + "x.param = " + arg(codes[0]) + restrictTarget(arg, "x", p)
	}
	return key + "x.param = ANY(" + arg(codes) + ")" + restrictTarget(arg, "x", p)
}

var tableOf = map[string]string{
	"string": "search_string", "token": "search_token", "reference": "search_reference", "date": "search_date",
	"number": "search_number", "quantity": "search_quantity", "uri": "search_uri", "composite": "search_composite",
}

func missing(p *Param, name, value string) (builder, error) {
	if value != "true" && value != "false" {
		return nil, invalid(name, ":missing takes true or false")
	}
	return func(arg func(any) string, v string) string {
		cond := index(tableOf[p.Type], p, v, "true", arg)
		if value == "true" {
			return "NOT " + cond
		}
		return cond
	}, nil
}

// anyOf ORs the conditions each value gives.
func anyOf(values []string, one func(arg func(any) string, value string) string) func(arg func(any) string) string {
	return func(arg func(any) string) string {
		ors := make([]string, len(values))
		for i, val := range values {
			ors[i] = "(" + one(arg, val) + ")"
		}
		return strings.Join(ors, " OR ")
	}
}

func unknownModifier(name, modifier string) error {
	return invalid(name, "modifier :%s is not known or not supported for this parameter", modifier)
}

// likePrefix escapes LIKE's wildcards in s and appends %.
func likePrefix(s string) string { return likeEscape(s) + "%" }

func likeEscape(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(s)
}

func stringCondition(typ string, p *Param, name, modifier string, values []string, o Options) (builder, error) {
	var one func(arg func(any) string, val string) string
	if codes := p.codes(); o.BlindString != nil && len(codes) == 1 && (modifier == "" || modifier == "exact") {
		if _, blind := o.BlindString(typ, codes[0], "", false); blind {
			exact := modifier == "exact"
			cond := anyOf(values, func(arg func(any) string, val string) string {
				if !exact {
					val = Normalize(val)
				}
				b, _ := o.BlindString(typ, codes[0], val, exact)
				if exact {
					return "x.exact = " + arg(b)
				}
				return "x.value = " + arg(b)
			})
			return func(arg func(any) string, v string) string { return index("search_string", p, v, cond(arg), arg) }, nil
		}
	}
	switch modifier {
	case "":
		one = func(arg func(any) string, val string) string { return startsWith(arg, Normalize(val)) }
	case "exact":
		one = func(arg func(any) string, val string) string { return "x.exact = " + arg(val) }
	case "contains":
		one = func(arg func(any) string, val string) string { return contains(arg, Normalize(val)) }
	default:
		return nil, unknownModifier(name, modifier)
	}
	cond := anyOf(values, one)
	return func(arg func(any) string, v string) string { return index("search_string", p, v, cond(arg), arg) }, nil
}

// startsWith matches a normalised string value by prefix. The index holds
// a value's first storage.MaxIndexed bytes: a longer prefix is looked up
// by its own first bytes and checked on the whole value.
func startsWith(arg func(any) string, norm string) string {
	if len(norm) <= storage.MaxIndexed {
		return "x.value LIKE " + arg(likePrefix(norm))
	}
	return "x.value LIKE " + arg(likePrefix(storage.IndexPrefix(norm))) + " AND coalesce(x.long, x.value) LIKE " + arg(likePrefix(norm))
}

// contains matches a normalised string value anywhere: in the indexed
// first bytes, or in the whole of a longer value (column long). Planned
// as the condition on value alone was (an OR rather than coalesce, whose
// estimate led the planner elsewhere).
func contains(arg func(any) string, norm string) string {
	p := arg("%" + likePrefix(norm))
	return "(x.value LIKE " + p + " OR x.long LIKE " + p + ")"
}

// equals matches a column that the index holds by storage.IndexKey. A
// long value written before the index held keys is matched as written.
func equals(arg func(any) string, col, v string) string {
	if len(v) <= storage.MaxIndexed {
		return col + " = " + arg(v)
	}
	return col + " = ANY(" + arg([]string{storage.IndexKey(v), v}) + ")"
}

type tokenValue struct {
	system, code *string
	noSystem     bool
}

func parseToken(name, val string) (tokenValue, error) {
	pieces := splitEscaped(val, '|')
	var t tokenValue
	switch len(pieces) {
	case 1:
		c := unescape(pieces[0])
		t.code = &c
	case 2:
		s, c := unescape(pieces[0]), unescape(pieces[1])
		if s == "" {
			t.noSystem = true
		} else {
			t.system = &s
		}
		if c != "" {
			t.code = &c
		}
	default:
		return t, invalid(name, "malformed token value %q for %s", val, name)
	}
	if t.code == nil && t.system == nil || t.code != nil && *t.code == "" {
		return t, invalid(name, "empty token value for %s", name)
	}
	return t, nil
}

// blinded is the token as the index holds it (Options.Blind).
func (t tokenValue) blinded(typ string, p *Param, o Options) tokenValue {
	if o.Blind == nil || t.code == nil || len(p.codes()) != 1 {
		return t
	}
	system := ""
	if t.system != nil {
		system = *t.system
	}
	b := o.Blind(typ, p.codes()[0], system, *t.code)
	t.code = &b
	return t
}

func (t tokenValue) sql(arg func(any) string) string { return t.sqlByID(arg, "x") }

// sqlByID matches the token against token row x: its system by the
// row's sid (storage.SystemID, migration 040), its code as written.
func (t tokenValue) sqlByID(arg func(any) string, x string) string {
	var conds []string
	switch {
	case t.noSystem:
		conds = append(conds, x+".sid IS NULL")
	case t.system != nil:
		conds = append(conds, systemMatch(arg, x+".sid", *t.system))
	}
	if t.code != nil {
		conds = append(conds, equals(arg, x+".code", *t.code))
	}
	return strings.Join(conds, " AND ")
}

// systemMatch matches a token row's sid to a system, as equals matches
// text: a long system written before the index held keys has the id of
// the whole.
func systemMatch(arg func(any) string, col, system string) string {
	if len(system) <= storage.MaxIndexed {
		return col + " = " + arg(storage.SystemID(system))
	}
	return col + " = ANY(" + arg([]int64{storage.SystemID(system), storage.TextID([]byte(system))}) + ")"
}

// sqlOn matches the token against text system and code columns (a
// composite's).
func (t tokenValue) sqlOn(arg func(any) string, system, code string) string {
	var conds []string
	switch {
	case t.noSystem:
		conds = append(conds, system+" IS NULL")
	case t.system != nil:
		conds = append(conds, equals(arg, system, *t.system))
	}
	if t.code != nil {
		conds = append(conds, equals(arg, code, *t.code))
	}
	return strings.Join(conds, " AND ")
}

func tokenCondition(typ string, p *Param, name, modifier string, values []string, o Options) (builder, error) {
	if modifier == "text" {
		cond := anyOf(values, func(arg func(any) string, val string) string { return "x.text LIKE " + arg(likePrefix(Normalize(val))) })
		return func(arg func(any) string, v string) string { return index("search_token", p, v, cond(arg), arg) }, nil
	}
	if modifier == "of-type" {
		return ofTypeCondition(p, name, values)
	}
	if modifier != "" && modifier != "not" {
		return nil, unknownModifier(name, modifier)
	}
	toks := make([]tokenValue, len(values))
	for i, val := range values {
		t, err := parseToken(name, val)
		if err != nil {
			return nil, err
		}
		toks[i] = t.blinded(typ, p, o)
	}
	return func(arg func(any) string, v string) string {
		ors := make([]string, len(toks))
		for i, t := range toks {
			ors[i] = "(" + t.sql(arg) + ")"
		}
		cond := index("search_token", p, v, strings.Join(ors, " OR "), arg)
		if modifier == "not" {
			return "NOT " + cond
		}
		return cond
	}, nil
}

func uriCondition(p *Param, name, modifier string, values []string) (builder, error) {
	var one func(arg func(any) string, val string) string
	switch modifier {
	case "":
		one = func(arg func(any) string, val string) string { return equals(arg, "x.value", val) }
	case "below":
		one = func(arg func(any) string, val string) string { return "x.value LIKE " + arg(likePrefix(val)) }
	case "above":
		one = func(arg func(any) string, val string) string {
			return arg(val) + " LIKE replace(replace(replace(x.value, '\\', '\\\\'), '%', '\\%'), '_', '\\_') || '%'"
		}
	default:
		return nil, unknownModifier(name, modifier)
	}
	cond := anyOf(values, one)
	return func(arg func(any) string, v string) string { return index("search_uri", p, v, cond(arg), arg) }, nil
}

var numberRE = regexp.MustCompile(`^[-+]?\d+(\.\d+)?([eE][-+]?\d+)?$`)

// prefixOf splits a comparison prefix from a date, number or quantity.
func prefixOf(val string) (prefix, rest string) {
	if len(val) > 2 && val[0] >= 'a' && val[0] <= 'z' {
		switch val[:2] {
		case "eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap":
			return val[:2], val[2:]
		}
	}
	return "eq", val
}

// ofTypeCondition is identifier:of-type=system|code|value: an identifier
// of that type with that value.
func ofTypeCondition(p *Param, name string, values []string) (builder, error) {
	q := &Param{Code: p.Code + ":of-type", Type: "token", base: p.base}
	for _, c := range p.codes() {
		q.indexAs = append(q.indexAs, c+":of-type")
	}
	type triple struct{ system, joined string }
	var ts []triple
	for _, v := range values {
		parts := splitEscaped(v, '|')
		if len(parts) != 3 || parts[1] == "" || parts[2] == "" {
			return nil, invalid(name, "%s: %q must be system|code|value", name, v)
		}
		ts = append(ts, triple{unescape(parts[0]), unescape(parts[1]) + "|" + unescape(parts[2])})
	}
	return func(arg func(any) string, v string) string {
		ors := make([]string, len(ts))
		for i, t := range ts {
			ors[i] = "(" + systemMatch(arg, "x.sid", t.system) + " AND " + equals(arg, "x.code", t.joined) + ")"
		}
		return index("search_token", q, v, strings.Join(ors, " OR "), arg)
	}, nil
}

// ScopeClause compiles the query of a SMART v2 scope narrowed by search
// parameters (patient/Observation.rs?category=laboratory) into one condition
// on a version's key: every parameter must match, as in a search. Only
// parameters matched against the index qualify; anything else (result
// parameters, _lastUpdated, an unknown name) is an error, so that a scope
// this server cannot apply grants nothing.
func (r *Registry) ScopeClause(typ, query string) (storage.KeyClause, error) {
	q, err := url.ParseQuery(query)
	if err != nil || len(q) == 0 {
		return nil, outcome.E(outcome.Invalid, "scope query %q is not a search", query)
	}
	if err := checkText(q); err != nil { // PostgreSQL refuses such text: a scope of it would fail every read
		return nil, err
	}
	var all []storage.KeyClause
	for _, name := range sortedKeys(q) {
		if code, _, _ := splitName(name); strings.HasPrefix(code, "_") && code != "_id" && code != "_tag" && code != "_security" && code != "_profile" {
			return nil, outcome.E(outcome.Invalid, "scope query parameter %q is not supported", name)
		}
		clauses, err := r.clauses(typ, name, q[name], Options{Strict: true})
		if err != nil {
			return nil, err
		}
		if clauses == nil {
			return nil, outcome.E(outcome.Invalid, "scope query parameter %q is not supported on %s", name, typ)
		}
		all = append(all, clauses...)
	}
	return func(arg func(any) string, v string) string {
		parts := make([]string, len(all))
		for i, c := range all {
			parts[i] = "(" + c(arg, v) + ")"
		}
		return strings.Join(parts, " AND ")
	}, nil
}
