package search

import (
	"errors"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/fhirserver/fhirserver/outcome"
	"github.com/fhirserver/fhirserver/storage"
)

// The limits that keep one search's cost bounded. Without them a few
// hundred bytes of query (one parameter repeated 150 times, a chain over
// every resource type) cost the database seconds to minutes, and past
// 65,535 bind values PostgreSQL refuses the statement. Each is far above
// what a clinical query needs; the statement timeout bounds the rest.
const (
	// MaxParams bounds the search parameters of one search, each
	// repetition counted: each is a condition checked per candidate.
	MaxParams = 30
	// MaxValues bounds the values of all its parameters together, each
	// comma-separated alternative counted.
	MaxValues = 100
	// MaxChainTypes bounds the resource types one link of a chain fans out
	// over (those that define the next parameter): each is a subquery.
	MaxChainTypes = 10
	// MaxIncludes bounds the _include and _revinclude values together:
	// each is a query per page and per :iterate level.
	MaxIncludes = 10
	// MaxBinds bounds the bind values of the statement a search becomes,
	// which grow as chains multiply values by types.
	MaxBinds = 1000
	// MaxOffset bounds _offset, the position of a page of a sorted search.
	MaxOffset = 1_000_000
	// MaxSortKeys bounds the keys of _sort: each is a subquery per match.
	MaxSortKeys = 10
)

// The numbers a search compares, far beyond any measurement: PostgreSQL's
// numeric overflows long before the syntax ends, on a huge exponent or
// on the precision half of it implies.
const (
	maxNumberLength = 100
	maxExponent     = 1000
)

// tooCostly is a 400 naming the limit a search passed.
func tooCostly(format string, args ...any) *outcome.Error {
	return outcome.E(outcome.Invalid, format, args...).WithCode("too-costly")
}

// checkText refuses names and values that are not text: a NUL byte or
// invalid UTF-8 is no FHIR string, and PostgreSQL refuses both.
func checkText(q url.Values) error {
	for name, values := range q {
		if !WellFormed(name) {
			return outcome.E(outcome.Invalid, "a parameter name holds a NUL byte or is not UTF-8")
		}
		for _, v := range values {
			if !WellFormed(v) {
				return invalid(name, "%s holds a NUL byte or is not UTF-8", name)
			}
		}
	}
	return nil
}

// WellFormed reports whether s may be stored and searched as text.
func WellFormed(s string) bool {
	return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0
}

// budget counts what a search asks for against the limits, parameter by
// parameter, in the order Parse reads them.
type budget struct {
	params, values, includes int
}

func (b *budget) criterion(name string, values []string) error {
	b.params += len(values)
	if b.params > MaxParams {
		return tooCostly("a search takes at most %d parameters (a repeated parameter counts each time)", MaxParams).At(name)
	}
	for _, v := range values {
		b.values += len(splitEscaped(v, ','))
	}
	if b.values > MaxValues {
		return tooCostly("a search takes at most %d values in all (comma-separated values count each)", MaxValues).At(name)
	}
	return nil
}

func (b *budget) include(name string, values []string) error {
	b.includes += len(values)
	if b.includes > MaxIncludes {
		return tooCostly("a search takes at most %d _include and _revinclude values", MaxIncludes).At("_include", "_revinclude")
	}
	return nil
}

// checkBinds renders the criteria only to count their bind values.
func checkBinds(c storage.Criteria) error {
	n := 0
	count := func(any) string { n++; return "$" }
	for _, cl := range c.Clauses {
		cl(count, "v")
	}
	for _, f := range c.Filters {
		f(count)
	}
	if c.Lead != nil {
		c.Lead.Cond(count, "l")
	}
	for _, s := range c.Sort {
		s.Expr(count)
	}
	if n > MaxBinds {
		return tooCostly("the search needs %d bind values; at most %d: use fewer values or name the chain's target types", n, MaxBinds)
	}
	return nil
}

// spans counts the types of targets on which chained (the rest of a
// chain) is a search parameter: the subqueries one link fans out to.
func (r *Registry) spans(targets []string, chained string) int {
	code, _, _ := splitName(chained)
	if strings.HasPrefix(code, "_") {
		return len(targets)
	}
	n := 0
	for _, t := range targets {
		if r.Param(t, code) != nil {
			n++
		}
	}
	return n
}

// atParam makes a limit passed deep in a chain name the parameter as the
// client wrote it.
func atParam(err error, name string) error {
	var oe *outcome.Error
	if errors.As(err, &oe) && len(oe.Issues) > 0 && oe.Issues[0].Code == "too-costly" {
		oe.Issues[0].Expression = []string{name}
	}
	return err
}
