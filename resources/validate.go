package resources

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"

	"github.com/fhirserver/fhirserver/outcome"
	"github.com/fhirserver/fhirserver/profiles"
	"github.com/fhirserver/fhirserver/storage"
)

// ValidateRequest is $validate's input: the resource (the body, or the
// Parameters part "resource"), the mode and the profiles to check besides
// those the resource claims.
type ValidateRequest struct {
	Type, ID string // ID at instance level
	Body     []byte // a resource or a Parameters; empty for mode delete
	Query    url.Values
}

// Validate answers $validate (R4 operation-resource-validate): the checks
// a create, an update or a delete would make, and the profiles asked for,
// with nothing stored. It answers 200 with an OperationOutcome listing
// every issue whether the resource is valid or not; an error means the
// validation itself could not be made.
func (s *Service) Validate(ctx context.Context, c Caller, req ValidateRequest) (Result, error) {
	in, err := validateInput(req)
	if err != nil {
		return Result{}, err
	}
	interaction := map[string]Interaction{"create": Create, "update": Update, "delete": Delete}[in.mode]
	if err := c.allowWrite(req.Type, interaction); err != nil {
		return Result{}, err
	}
	var issues []outcome.Issue
	if in.mode == "delete" {
		issues, err = s.validateDelete(ctx, c, req)
	} else {
		issues, err = s.validateContent(req, in)
	}
	if err != nil {
		return Result{}, err
	}
	return validateResult(issues), nil
}

type validateParams struct {
	mode     string
	profiles []string
	resource map[string]any
}

// validateInput reads the resource, mode and profiles from the body and
// the query.
func validateInput(req ValidateRequest) (validateParams, error) {
	in := validateParams{mode: req.Query.Get("mode"), profiles: req.Query["profile"]}
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

func (in *validateParams) fromParameters(obj map[string]any) error {
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

// validateContent checks the resource as the write would: the type the
// URL names, the id an update needs, the R4 definitions and the profiles.
func (s *Service) validateContent(req ValidateRequest, in validateParams) ([]outcome.Issue, error) {
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
	r := d.Validate(in.resource, profiles.Options{Profiles: in.profiles, Strict: s.validation.Strict})
	return append(issues, r.Issues()...), nil
}

// validateDelete reports whether the instance could be deleted: it must
// exist (and be visible to the caller).
func (s *Service) validateDelete(ctx context.Context, c Caller, req ValidateRequest) ([]outcome.Issue, error) {
	k := storage.Key{Type: req.Type, ID: req.ID}
	_, err := s.store.Read(ctx, k)
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

// validateResult is the OperationOutcome $validate answers with.
func validateResult(issues []outcome.Issue) Result {
	var body []byte
	if len(issues) == 0 {
		body = outcome.Info("the resource is valid")
	} else {
		body = (&outcome.Error{Kind: outcome.Invalid, Issues: issues}).OperationOutcome()
	}
	return Result{Status: http.StatusOK, Body: body}
}
