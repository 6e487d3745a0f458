package docref

import (
	"context"
	"net/http"
	"net/url"

	"github.com/fhirserver/fhirserver/operations"
	"github.com/fhirserver/fhirserver/resources"
	"github.com/fhirserver/fhirserver/resources/access"
	"github.com/fhirserver/fhirserver/storage"
)

// Searcher runs the DocumentReference search $docref stands for
// (resources.Service).
type Searcher interface {
	Search(ctx context.Context, c access.Caller, typ string, q url.Values, o resources.Options, compartment *storage.Key) (resources.Result, error)
}

// Operation is GET or POST DocumentReference/$docref, answered by res's
// search.
func Operation(res Searcher) *operations.Operation {
	return &operations.Operation{
		Code: "docref", Types: []string{"DocumentReference"}, Levels: operations.Type,
		Methods: operations.Get | operations.Post, Input: operations.Body,
		Published: Definition, Doc: Doc,
		Who: "whoever may make the DocumentReference search it stands for: its scopes, a patient's reach and care relationships, audited with its query.",
		Handler: func(ctx context.Context, r *operations.Request) (resources.Result, error) {
			in := r.Query
			if r.Method == http.MethodPost {
				var err error
				if in, err = Params(r.Body); err != nil {
					return resources.Result{}, err
				}
			}
			q, err := Query(in)
			if err != nil {
				return resources.Result{}, err
			}
			r.Search = &operations.Search{Type: "DocumentReference", Query: q}
			return res.Search(ctx, r.Caller, "DocumentReference", q, r.Options, nil)
		},
	}
}
