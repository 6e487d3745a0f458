package search

import (
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/fhirserver/fhirserver/fhirserver/outcome"
	"github.com/fhirserver/fhirserver/storage"
)

// Query is a parsed search: what to match, how many per page, and the
// parameters that were applied (for the self link).
type Query struct {
	Criteria storage.Criteria
	Count    int
	Applied  url.Values
}

const (
	DefaultCount = 50
	MaxCount     = 1000
)

// Parse reads the parameters of a search on typ. Until the search issue
// lands only _id and identifier select; other parameters are ignored
// (and left out of Applied) unless strict, when they are a 400. A malformed
// value is always a 400 naming the parameter.
func Parse(typ string, q url.Values, strict bool) (Query, error) {
	out := Query{Criteria: storage.Criteria{Type: typ}, Count: DefaultCount, Applied: url.Values{}}
	for _, name := range sortedKeys(q) {
		values := q[name]
		switch name {
		case "_id":
			for _, v := range values {
				out.Criteria.IDs = append(out.Criteria.IDs, splitOr(v))
			}
		case "identifier":
			for _, v := range values {
				toks, err := tokens(name, v)
				if err != nil {
					return out, err
				}
				out.Criteria.Identifiers = append(out.Criteria.Identifiers, toks)
			}
		case "_count":
			n, err := strconv.Atoi(values[len(values)-1])
			if err != nil || n < 0 {
				return out, outcome.E(outcome.Invalid, "_count must be a non-negative integer").At(name)
			}
			out.Count = min(n, MaxCount)
		case "_format", "_pretty", "_cursor":
			continue // handled by the HTTP layer or the pager
		default:
			if strict {
				return out, outcome.E(outcome.Invalid, "search parameter %q is not supported on %s", name, typ).At(name).WithCode("not-supported")
			}
			continue
		}
		out.Applied[name] = values
	}
	return out, nil
}

// ParseConditional reads the criteria of a conditional create, update or
// delete, or of a conditional reference. Ignoring a parameter there could
// make a write hit the wrong resource, so every unknown one is refused.
func ParseConditional(typ, rawQuery string) (storage.Criteria, error) {
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return storage.Criteria{}, outcome.E(outcome.Invalid, "malformed conditional criteria")
	}
	if len(q) == 0 {
		return storage.Criteria{}, outcome.E(outcome.Invalid, "conditional criteria are empty")
	}
	parsed, err := Parse(typ, q, true)
	if err != nil {
		return storage.Criteria{}, err
	}
	if _, ok := q["_count"]; ok {
		return storage.Criteria{}, outcome.E(outcome.Invalid, "_count is not a criterion").At("_count")
	}
	return parsed.Criteria, nil
}

func sortedKeys(q url.Values) []string {
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// splitOr splits a value on unescaped commas and unescapes each part.
func splitOr(v string) []string {
	var parts []string
	var cur strings.Builder
	for i := 0; i < len(v); i++ {
		switch {
		case v[i] == '\\' && i+1 < len(v):
			i++
			cur.WriteByte(v[i])
		case v[i] == ',':
			parts = append(parts, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(v[i])
		}
	}
	return append(parts, cur.String())
}

// tokens parses a token parameter value: code, system|code, |code, system|.
func tokens(name, v string) ([]storage.Token, error) {
	var out []storage.Token
	for _, part := range splitEscaped(v, ',') {
		pieces := splitEscaped(part, '|')
		var tok storage.Token
		switch len(pieces) {
		case 1:
			if pieces[0] != "" {
				tok.Value = ptr(unescape(pieces[0]))
			}
		case 2:
			sys, val := unescape(pieces[0]), unescape(pieces[1])
			tok.System = &sys
			if val != "" {
				tok.Value = &val
			}
		default:
			return nil, outcome.E(outcome.Invalid, "malformed token value for %s", name).At(name)
		}
		if tok.Value == nil && (tok.System == nil || *tok.System == "") {
			return nil, outcome.E(outcome.Invalid, "empty token value for %s", name).At(name)
		}
		out = append(out, tok)
	}
	return out, nil
}

func ptr(s string) *string { return &s }

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
