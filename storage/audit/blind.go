package audit

import (
	"encoding/base64"
	"net/url"
	"regexp"
	"strings"
)

// Blinder is how the database indexes what it keeps only encrypted
// (storage.Store's BlindToken and BlindString): a record keeps a search's
// values in that blind form, never in clear, so that the audit log holds
// nothing the database does not.
type Blinder struct {
	// Token is the blind index value of a token searched for; the code
	// itself when the token is not encrypted. Nil: nothing is.
	Token func(typ, param, system, code string) string
	// String is the blind index value of a string searched for, and
	// whether the parameter is indexed blind. Nil: none is.
	String func(typ, param, value string, exact bool) (string, bool)
	// Identifier is the identifier system encrypted at rest
	// (storage.Protection.Identifier, the US SSN): a value of an SSN's
	// shape in any parameter is kept as that system's blind value.
	Identifier string
}

// query keeps a search's parameters as the AuditEvent's base64 query,
// each value the database keeps only encrypted (an SSN, an address, a
// sensitive code) by its blind index value.
func (b Blinder) query(typ, q string) string {
	values, err := url.ParseQuery(q)
	if err != nil {
		return base64.StdEncoding.EncodeToString([]byte("(unparsable query withheld)"))
	}
	changed := false
	for name, vs := range values {
		param, _, _ := strings.Cut(name, ":")
		for i, v := range vs {
			parts := strings.Split(v, ",")
			for j, p := range parts {
				parts[j] = b.value(typ, param, p)
			}
			if joined := strings.Join(parts, ","); joined != v {
				vs[i], changed = joined, true
			}
		}
	}
	if changed {
		q = values.Encode()
	}
	return base64.StdEncoding.EncodeToString([]byte(q))
}

// value is a search value as the audit log may keep it.
func (b Blinder) value(typ, param, v string) string {
	if b.String != nil {
		if s, ok := b.String(typ, param, v, false); ok {
			return s
		}
	}
	if b.Token == nil {
		return v
	}
	system, code, hasSystem := strings.Cut(v, "|")
	if !hasSystem {
		system, code = "", v
	}
	if t := b.Token(typ, param, system, code); t != code {
		if hasSystem {
			return system + "|" + t
		}
		return t
	}
	return b.ssn(v)
}

// ssnShape is how a US SSN is written, with or without its dashes.
var ssnShape = regexp.MustCompile(`^[0-9]{3}-?[0-9]{2}-?[0-9]{4}$`)

// ssn keeps a value that may be an SSN by the blind form the index holds
// for one, in any parameter (identifier, a chain's, :of-type's): a value
// searched without a system, or under a type, is an SSN as likely as
// anything else. A value under a system of its own (urn:mrn|…) is not
// one. An auditor who holds a suspected SSN finds its searches by that
// blind value (BlindToken with the SSN system); nobody reads one back.
func (b Blinder) ssn(v string) string {
	i := strings.LastIndexByte(v, '|')
	prefix, code := v[:i+1], v[i+1:]
	if !ssnShape.MatchString(code) || strings.Count(prefix, "|") == 1 && prefix != "|" && prefix != b.Identifier+"|" {
		return v
	}
	if b.Token != nil {
		if t := b.Token("Patient", "identifier", b.Identifier, code); t != code {
			return prefix + t
		}
	}
	return prefix + "(withheld)"
}
