package search

import (
	"strings"

	"github.com/fhirserver/fhirserver/profiles"
	"github.com/fhirserver/fhirserver/storage"
)

// Lead ranks: a search starts from the condition that is likely to match
// the fewest resources among those whose index rows come in id order.
const (
	noLead = iota
	leadToken
	leadIdentifier
	leadReference
)

// leadFor tells whether name=value can lead a search (see storage.Lead)
// and how well: one value that fixes every column the parameter's index
// holds before id, so that its rows come in id order. A reference to one
// resource comes first (a patient's data is small whatever the type); an
// identifier next; then any other system|code. Codes without a system,
// prefixes, ranges and chains are scattered over their index: they are
// checked for each candidate instead.
func (r *Registry) leadFor(typ, name, value string, o Options) (int, *storage.Lead) {
	code, modifier, chained := splitName(name)
	p := r.Param(typ, code)
	values := splitOr(value)
	if p == nil || chained != "" || len(values) != 1 || len(p.codes()) != 1 {
		return noLead, nil
	}
	param := p.codes()[0]
	switch p.Type {
	case "reference":
		cond, ok := referenceLead(p, modifier, values[0], o)
		if !ok {
			return noLead, nil
		}
		return leadReference, &storage.Lead{Table: "search_reference", Cond: func(arg func(any) string, x string) string {
			return x + ".param = " + arg(param) + " AND " + cond(arg, x)
		}}
	case "token":
		t, err := parseToken(name, values[0])
		if err != nil || modifier != "" || t.code == nil || (t.system == nil && !t.noSystem) {
			return noLead, nil
		}
		t = t.blinded(typ, p, o)
		rank := leadToken
		if code == "identifier" {
			rank = leadIdentifier
		}
		return rank, &storage.Lead{Table: "search_token", Cond: func(arg func(any) string, x string) string {
			return x + ".param = " + arg(param) + " AND " + t.sqlOn(arg, x+".system", x+".code")
		}}
	}
	return noLead, nil
}

// referenceLead is the condition on search_reference of one reference
// value, when it fixes the target's type and id (or its URL).
func referenceLead(p *Param, modifier, val string, o Options) (storage.KeyClause, bool) {
	typed := p.targetType
	if modifier != "" {
		if !profiles.IsResourceType(modifier) || (typed != "" && typed != modifier) {
			return nil, false
		}
		typed = modifier
	}
	typ, id, local := localReference(val, o.BaseURL)
	switch {
	case local && (typed == "" || typ == typed):
		return func(arg func(any) string, x string) string {
			return equals(arg, x+".target_id", id) + " AND " + x + ".target_type = " + arg(typ)
		}, true
	case local:
		return nil, false
	case strings.Contains(val, ":"):
		return nil, false // absolute URLs elsewhere are rare; they are checked per candidate
	case typed != "":
		return func(arg func(any) string, x string) string {
			return equals(arg, x+".target_id", val) + " AND " + x + ".target_type = " + arg(typed)
		}, true
	}
	return nil, false
}
