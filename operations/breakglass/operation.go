package breakglass

import (
	"context"
	"net/http"

	"github.com/fhirserver/fhirserver/operations"
	"github.com/fhirserver/fhirserver/outcome"
	"github.com/fhirserver/fhirserver/resources"
	"github.com/fhirserver/fhirserver/storage"
)

// Operation is POST Patient/[id]/$break-glass, run by op; a nil op
// answers 501.
func Operation(op *Op) *operations.Operation {
	return &operations.Operation{
		Code: "break-glass", Types: []string{"Patient"}, Levels: operations.Instance,
		Input: operations.Body, AffectsState: true,
		Doc: "Emergency access to a patient outside the user's care relationships: recorded first, granted at once for a limited time, reviewed by the privacy officer.",
		Who: "a signed-in user of the clinician role with user-level scopes that read Patient; every other caller is refused (403), and the refusal audited naming the patient.",
		Params: []operations.Param{{Name: "justification", Use: "in", Min: "1", Max: "1", Type: "string", Doc: "why (at least twenty characters and three words)"}, {Name: "purpose", Use: "in", Min: "1", Max: "1", Type: "code", Doc: "purpose of use, such as ETREAT"},
			{Name: "patient", Use: "out", Min: "1", Max: "1", Type: "Reference", Doc: "the patient"}, {Name: "expires", Use: "out", Min: "1", Max: "1", Type: "instant", Doc: "when the access ends"}, {Name: "review", Use: "out", Min: "1", Max: "1", Type: "Reference", Doc: "the review Task"}},
		Handler: func(ctx context.Context, r *operations.Request) (resources.Result, error) {
			if op == nil {
				return resources.Result{}, outcome.E(outcome.NotSupported, "$break-glass is not enabled")
			}
			out, err := op.Run(ctx, r.Caller, r.ID, r.Body)
			if err != nil {
				return resources.Result{}, err
			}
			return resources.Result{Status: http.StatusOK, Body: out, Keys: []storage.Key{{Type: "Patient", ID: r.ID}}}, nil
		},
	}
}
