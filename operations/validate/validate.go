package validate

import (
	"context"

	"github.com/fhirserver/fhirserver/operations"
	"github.com/fhirserver/fhirserver/resources"
)

// Operation is [type]/$validate and [type]/[id]/$validate, on every type.
func Operation(res *resources.Service) *operations.Operation {
	return &operations.Operation{
		Code: "validate", Levels: operations.Type | operations.Instance,
		Methods: operations.Get | operations.Post, Input: operations.Body,
		Canonical: "http://hl7.org/fhir/OperationDefinition/Resource-validate",
		Doc: "The checks a create, an update or a delete of the resource would make, and the profiles asked for, with nothing stored: " +
			"200 with an OperationOutcome listing every issue, or one informational issue when there is none.",
		Who: "whoever may make the write the mode names (create, update, delete; profile as create), as the write path checks it.",
		Params: []operations.Param{
			{Name: "resource", Use: "in", Min: "0", Max: "1", Type: "Resource", Doc: "the resource, or the body itself"},
			{Name: "mode", Use: "in", Min: "0", Max: "1", Type: "code", Doc: "create, update, delete or profile"},
			{Name: "profile", Use: "in", Min: "0", Max: "*", Type: "uri", Doc: "a profile to check besides those the resource claims"},
			{Name: "return", Use: "out", Min: "1", Max: "1", Type: "OperationOutcome", Doc: "every issue"},
		},
		Handler: func(ctx context.Context, r *operations.Request) (resources.Result, error) {
			return res.Validate(ctx, r.Caller, resources.ValidateRequest{Type: r.Type, ID: r.ID, Body: r.Body, Query: r.Query})
		},
	}
}
