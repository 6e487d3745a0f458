package everything

import (
	"context"

	"github.com/fhirserver/fhirserver/operations"
	"github.com/fhirserver/fhirserver/resources"
)

// Operation is GET Patient/$everything and Patient/[id]/$everything.
func Operation(res *resources.Service) *operations.Operation {
	return &operations.Operation{
		Code: "everything", Types: []string{"Patient"}, Levels: operations.Type | operations.Instance,
		Methods:   operations.Get,
		Canonical: "http://hl7.org/fhir/OperationDefinition/Patient-everything",
		Doc: "The patient (every patient the token may read, at type level), everything in its compartment and the resources those point at, " +
			"with start and end (care dates), _since, _type and _count, one page at a time from a snapshot.",
		Who: "a token that reads Patient; each type held to what the token's search of it returns (scopes, a patient's reach, narrowed scopes, care relationships); a token limited to one patient gets that patient only.",
		Params: []operations.Param{
			{Name: "start", Use: "in", Min: "0", Max: "1", Type: "date", Doc: "care dates from"},
			{Name: "end", Use: "in", Min: "0", Max: "1", Type: "date", Doc: "care dates to"},
			{Name: "_since", Use: "in", Min: "0", Max: "1", Type: "instant", Doc: "changed since"},
			{Name: "_type", Use: "in", Min: "0", Max: "*", Type: "code", Doc: "the types to return"},
			{Name: "_count", Use: "in", Min: "0", Max: "1", Type: "integer", Doc: "entries a page (default 100)"},
			{Name: "return", Use: "out", Min: "1", Max: "1", Type: "Bundle", Doc: "a searchset"},
		},
		Handler: func(ctx context.Context, r *operations.Request) (resources.Result, error) {
			return res.Everything(ctx, r.Caller, r.ID, r.Query, r.Options)
		},
	}
}
