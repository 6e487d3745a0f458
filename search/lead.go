package search

import (
	"strings"
	"unicode/utf8"

	"github.com/fhirserver/fhirserver/profiles"
	"github.com/fhirserver/fhirserver/storage"
)

// Lead ranks: a search starts from the condition that is likely to match
// the fewest resources among those whose index rows come in id order.
const (
	noLead = iota
	leadString
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
	case "string":
		if modifier != "" || (o.BlindString != nil && blindString(typ, param, o)) {
			return noLead, nil
		}
		cond, ok := prefixLead(Normalize(values[0]))
		if !ok {
			return noLead, nil
		}
		return leadString, &storage.Lead{Table: "search_string", ByValue: true, Cond: func(arg func(any) string, x string) string {
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
		pid := storage.ParamID(typ, param)
		return rank, &storage.Lead{Table: "search_token", Cond: func(arg func(any) string, x string) string {
			return x + ".pid = " + arg(pid) + " AND " + t.sqlByID(arg, x)
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

// compartment is a search's best start when it names one patient and a
// code: the token rows of that patient's compartment (migration 034),
// which come in id order for one (patient, parameter, code) whatever the
// system, so that a page reads only the patient's matching rows instead
// of checking the code on every resource of the patient.
type compartment struct {
	patient string // from a reference to one Patient
	token   *storage.Lead
	tokenAt int // the clause the token lead stands for
	rank    int // leadToken, or leadIdentifier when a system is fixed
}

// patientOf is the Patient id that name=value refers to, when it names
// exactly one patient by a reference of typ (patient=123,
// subject=Patient/123) and the id is one the compartment index holds.
func (r *Registry) patientOf(typ, name, value string, o Options) string {
	code, modifier, chained := splitName(name)
	p := r.Param(typ, code)
	values := splitOr(value)
	if p == nil || p.Type != "reference" || chained != "" || len(values) != 1 || len(p.codes()) != 1 {
		return ""
	}
	typed := p.targetType
	if modifier != "" {
		if typed != "" && typed != modifier {
			return ""
		}
		typed = modifier
	}
	val := values[0]
	if t, id, local := localReference(val, o.BaseURL); local {
		val, typed = id, t
	} else if strings.Contains(val, ":") || strings.Contains(val, "/") {
		return ""
	}
	if typed != "Patient" || !storage.CompartmentID(val) {
		return ""
	}
	return val
}

// compartmentToken is the condition on a patient's token rows of
// name=value: a code, with or without its system; the rank prefers a
// fixed system (the narrower rows).
func (r *Registry) compartmentToken(typ, name, value string, o Options) (int, *storage.Lead) {
	code, modifier, chained := splitName(name)
	p := r.Param(typ, code)
	values := splitOr(value)
	if p == nil || p.Type != "token" || modifier != "" || chained != "" || len(values) != 1 || len(p.codes()) != 1 {
		return noLead, nil
	}
	t, err := parseToken(name, values[0])
	if err != nil || t.code == nil {
		return noLead, nil
	}
	t = t.blinded(typ, p, o)
	rank := leadToken
	if t.system != nil {
		rank = leadIdentifier
	}
	pid := storage.ParamID(typ, p.codes()[0])
	return rank, &storage.Lead{Table: "search_token", Cond: func(arg func(any) string, x string) string {
		return x + ".pid = " + arg(pid) + " AND " + t.sqlByID(arg, x)
	}}
}

// lead is the compartment's lead: the token condition on the patient's rows.
func (c compartment) lead() *storage.Lead {
	patient, cond := c.patient, c.token.Cond
	return &storage.Lead{Table: "search_token", Cond: func(arg func(any) string, x string) string {
		return x + ".patient = " + arg(patient) + " AND " + cond(arg, x)
	}}
}

// blindString tells whether the parameter's values are indexed blind
// (Options.BlindString): matched whole, never by prefix.
func blindString(typ, param string, o Options) bool {
	_, blind := o.BlindString(typ, param, "", false)
	return blind
}

// prefixLead is the condition that search_string's value starts with
// norm, as a range of the index's byte order (~>=~, ~<~) that a kept plan
// can read without knowing the value, and the LIKE that decides. The
// range ends at norm with its last character's successor: UTF-8 keeps
// code point order byte by byte, and no value with the prefix reaches it.
func prefixLead(norm string) (storage.KeyClause, bool) {
	if norm == "" || len(norm) > storage.MaxIndexed || !utf8.ValidString(norm) {
		return nil, false
	}
	end := successor(norm)
	return func(arg func(any) string, x string) string {
		cond := x + ".value ~>=~ " + arg(norm)
		if end != "" {
			cond += " AND " + x + ".value ~<~ " + arg(end)
		}
		return cond + " AND " + x + ".value LIKE " + arg(likePrefix(norm))
	}, true
}

// successor is the least string above every string that starts with s,
// "" when there is none (s is all U+10FFFF).
func successor(s string) string {
	for s != "" {
		r, size := utf8.DecodeLastRuneInString(s)
		s = s[:len(s)-size]
		switch {
		case r == utf8.MaxRune:
			continue
		case r == 0xD7FF:
			return s + string(rune(0xE000)) // past the surrogates, which UTF-8 cannot hold
		default:
			return s + string(r+1)
		}
	}
	return ""
}
