package validate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/fhirserver/fhirserver/operations"
	"github.com/fhirserver/fhirserver/outcome"
	"github.com/fhirserver/fhirserver/profiles"
	"github.com/fhirserver/fhirserver/resources"
	"github.com/fhirserver/fhirserver/resources/access"
	"github.com/fhirserver/fhirserver/storage"
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
			return run(ctx, res, r)
		},
	}
}

// run answers $validate (R4 operation-resource-validate): the checks a
// create, an update or a delete would make, and the profiles asked for,
// with nothing stored. It answers 200 with an OperationOutcome listing
// every issue whether the resource is valid or not; an error means the
// validation itself could not be made.
func run(ctx context.Context, res *resources.Service, req *operations.Request) (resources.Result, error) {
	in, err := input(req)
	if err != nil {
		return resources.Result{}, err
	}
	interaction := map[string]access.Interaction{"create": access.Create, "update": access.Update, "delete": access.Delete}[in.mode]
	if err := req.Caller.AllowWrite(req.Type, interaction); err != nil {
		return resources.Result{}, err
	}
	var issues []outcome.Issue
	if in.mode == "delete" {
		issues, err = deletable(ctx, res, req)
	} else {
		issues, err = content(res, req, in)
	}
	if err != nil {
		return resources.Result{}, err
	}
	return result(issues), nil
}

type params struct {
	mode     string
	profiles []string
	resource map[string]any
}

// input reads the resource, mode and profiles from the body and the
// query.
func input(req *operations.Request) (params, error) {
	in := params{mode: req.Query.Get("mode"), profiles: req.Query["profile"]}
	if len(req.Body) > 0 {
		var obj map[string]any
		dec := json.NewDecoder(bytes.NewReader(req.Body))
		dec.UseNumber() // as the validator reads numbers: decimals keep their digits
		if err := dec.Decode(&obj); err != nil || obj == nil {
			return in, outcome.E(outcome.Invalid, "the body is not a JSON object").WithCode("structure")
		}
		in.resource = obj
		if obj["resourceType"] == "Parameters" && req.Type != "Parameters" {
			in.resource = nil
			if err := in.fromParameters(obj); err != nil {
				return in, err
			}
		}
	}
	switch in.mode {
	case "":
		in.mode = "create"
		if req.ID != "" {
			in.mode = "update"
		}
	case "create", "update", "delete", "profile":
	default:
		return in, outcome.E(outcome.Invalid, "mode must be create, update, delete or profile, not %q", in.mode).At("mode")
	}
	if in.mode == "profile" {
		in.mode = "create"
		if len(in.profiles) == 0 {
			return in, outcome.E(outcome.Invalid, "mode profile needs a profile parameter").At("profile")
		}
	}
	if in.mode == "delete" {
		if req.ID == "" {
			return in, outcome.E(outcome.Invalid, "mode delete validates the deletion of an instance: [type]/[id]/$validate")
		}
		return in, nil
	}
	if in.resource == nil {
		return in, outcome.E(outcome.Invalid, "$validate needs a resource: the body, or a Parameters with a resource part").WithCode("required")
	}
	return in, nil
}

func (in *params) fromParameters(obj map[string]any) error {
	parts, _ := obj["parameter"].([]any)
	for _, p := range parts {
		part, _ := p.(map[string]any)
		switch part["name"] {
		case "resource":
			r, ok := part["resource"].(map[string]any)
			if !ok {
				return outcome.E(outcome.Invalid, "the resource part holds no resource").At("Parameters.parameter")
			}
			in.resource = r
		case "mode":
			if v, ok := part["valueCode"].(string); ok {
				in.mode = v
			}
		case "profile":
			for _, k := range []string{"valueUri", "valueCanonical"} {
				if v, ok := part[k].(string); ok {
					in.profiles = append(in.profiles, v)
				}
			}
		}
	}
	return nil
}

// content checks the resource as the write would: the type the URL
// names, the id an update needs, the R4 definitions and the profiles.
func content(res *resources.Service, req *operations.Request, in params) ([]outcome.Issue, error) {
	d, err := profiles.R4()
	if err != nil {
		return nil, err
	}
	var issues []outcome.Issue
	rt, _ := in.resource["resourceType"].(string)
	if rt != req.Type {
		issues = append(issues, outcome.Issue{Code: "invalid", Diagnostics: "the resource is a " + rt + ", the URL names " + req.Type, Expression: []string{"resourceType"}})
	}
	id, _ := in.resource["id"].(string)
	if in.mode == "update" {
		switch {
		case id == "":
			issues = append(issues, outcome.Issue{Code: "required", Diagnostics: "an update needs the resource's id", Expression: []string{rt + ".id"}})
		case req.ID != "" && id != req.ID:
			issues = append(issues, outcome.Issue{Code: "invalid", Diagnostics: "the resource's id is not the one in the URL", Expression: []string{rt + ".id"}})
		}
	}
	// $validate reports a profile's complaints as errors even where the
	// server would store the resource with warnings (--profile-errors warn).
	r := d.Validate(in.resource, profiles.Options{Profiles: in.profiles, Strict: res.Validation().Strict})
	return append(issues, r.Issues()...), nil
}

// deletable reports whether the instance could be deleted: it must
// exist (and be visible to the caller).
func deletable(ctx context.Context, res *resources.Service, req *operations.Request) ([]outcome.Issue, error) {
	k := storage.Key{Type: req.Type, ID: req.ID}
	err := res.Stored(ctx, k)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return []outcome.Issue{{Code: "not-found", Diagnostics: k.String() + " does not exist"}}, nil
	case errors.Is(err, storage.ErrGone):
		return []outcome.Issue{{Code: "deleted", Diagnostics: k.String() + " is already deleted"}}, nil
	case err != nil:
		return nil, err
	}
	return nil, nil
}

// result is the OperationOutcome $validate answers with.
func result(issues []outcome.Issue) resources.Result {
	var body []byte
	if len(issues) == 0 {
		body = outcome.Info("the resource is valid")
	} else {
		body = (&outcome.Error{Kind: outcome.Invalid, Issues: issues}).OperationOutcome()
	}
	return resources.Result{Status: http.StatusOK, Body: body}
}
