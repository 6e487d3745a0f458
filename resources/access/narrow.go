package access

import (
	"strings"

	"github.com/fhirserver/fhirserver/search"
	"github.com/fhirserver/fhirserver/storage"
)

// Narrowing turns what a decision holds an interaction to into the SQL
// condition a query carries, so that the database returns only what the
// caller may see rather than the server filtering after the fetch.
type Narrowing struct {
	// Search reads the queries of narrowed scopes.
	Search *search.Registry
	// Links are the "Type param" pairs of the Patient compartment: what a
	// patient's reach follows.
	Links []string
}

// Clause is the condition on resources of typ that d holds the caller
// to, or nil when it holds it to nothing: within its patient's reach, and
// matching one of its narrowed scopes' queries (a query this server
// cannot apply grants nothing). A refused decision narrows to nothing:
// whoever asks without having checked it first still gets no row.
func (n Narrowing) Clause(typ string, d Decision) storage.KeyClause {
	if !d.Allowed {
		return func(func(any) string, string) string { return "false" }
	}
	var parts []storage.KeyClause
	if d.Patient != "" {
		parts = append(parts, storage.Reach{Patient: d.Patient, Links: n.Links}.Clause())
	}
	if len(d.Filters) > 0 {
		var anyOf []storage.KeyClause
		for _, q := range d.Filters {
			if cl, err := n.Search.ScopeClause(typ, q); err == nil {
				anyOf = append(anyOf, cl)
			}
		}
		parts = append(parts, func(arg func(any) string, v string) string {
			if len(anyOf) == 0 {
				return "false"
			}
			ors := make([]string, len(anyOf))
			for i, cl := range anyOf {
				ors[i] = "(" + cl(arg, v) + ")"
			}
			return "(" + strings.Join(ors, " OR ") + ")"
		})
	}
	switch len(parts) {
	case 0:
		return nil
	case 1:
		return parts[0]
	}
	return func(arg func(any) string, v string) string {
		return "(" + parts[0](arg, v) + ") AND (" + parts[1](arg, v) + ")"
	}
}
