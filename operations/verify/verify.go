package verify

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/fhirserver/fhirserver/operations"
	"github.com/fhirserver/fhirserver/outcome"
	"github.com/fhirserver/fhirserver/resources"
	"github.com/fhirserver/fhirserver/resources/access"
	"github.com/fhirserver/fhirserver/storage"
	"github.com/fhirserver/fhirserver/storage/audit"
)

// Chains recomputes the audit chains: the rows checked and the first
// broken link, nil when every chain holds.
type Chains func(ctx context.Context) (int64, *audit.Break, error)

// Operation is AuditEvent/$verify over chains; nil chains answer 501.
func Operation(chains Chains) *operations.Operation {
	return &operations.Operation{
		Code: "verify", Types: []string{"AuditEvent"}, Levels: operations.Type,
		Methods: operations.Get | operations.Post,
		Doc:     "Recomputes every audit hash chain and names the first broken link.",
		Who:     "auditors: a token that searches AuditEvent by a scope naming it; a user must have the auditor role; not one limited to a patient or to narrowed scopes.",
		Params: []operations.Param{{Name: "rows", Use: "out", Min: "1", Max: "1", Type: "integer", Doc: "rows checked"}, {Name: "intact", Use: "out", Min: "1", Max: "1", Type: "boolean", Doc: "every chain holds"},
			{Name: "stripe", Use: "out", Min: "0", Max: "1", Type: "integer", Doc: "the broken chain"}, {Name: "link", Use: "out", Min: "0", Max: "1", Type: "integer", Doc: "its first broken link"}, {Name: "reason", Use: "out", Min: "0", Max: "1", Type: "string", Doc: "what is wrong"}},
		Allow: func(c access.Caller) error { return c.AllowAudit(access.Search) },
		Handler: func(ctx context.Context, r *operations.Request) (resources.Result, error) {
			if chains == nil {
				return resources.Result{}, outcome.E(outcome.NotSupported, "AuditEvent/$verify is not enabled")
			}
			// The chains span every patient; who may check them was decided
			// by Allow.
			rows, broken, err := chains(storage.Unrestricted(ctx))
			if err != nil {
				return resources.Result{}, err
			}
			params := []map[string]any{{"name": "rows", "valueInteger": rows}, {"name": "intact", "valueBoolean": broken == nil}}
			if broken != nil {
				params = append(params,
					map[string]any{"name": "stripe", "valueInteger": broken.Stripe},
					map[string]any{"name": "link", "valueInteger": broken.Link},
					map[string]any{"name": "reason", "valueString": broken.Reason})
			}
			body, err := json.Marshal(map[string]any{"resourceType": "Parameters", "parameter": params})
			return resources.Result{Status: http.StatusOK, Body: body}, err
		},
	}
}
