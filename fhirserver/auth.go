package fhirserver

import (
	"net/http"

	"github.com/fhirserver/fhirserver/fhirserver/outcome"
	"github.com/fhirserver/fhirserver/resources"
	"github.com/fhirserver/fhirserver/smart"
)

// permissions maps each interaction to the SMART v2 permission it needs.
var permissions = map[resources.Interaction]rune{
	resources.Read: 'r', resources.VRead: 'r', resources.History: 'r',
	resources.Search: 's',
	resources.Create: 'c',
	resources.Update: 'u', resources.Patch: 'u',
	resources.Delete: 'd',
}

// SMART authenticates FHIR requests with the SMART provider's tokens.
func SMART(p *smart.Provider) Authenticator { return smartAuth{p} }

type smartAuth struct{ p *smart.Provider }

func (s smartAuth) Authenticate(r *http.Request) (resources.Caller, error) {
	access, err := s.p.Authenticate(r)
	if err != nil {
		return resources.Caller{}, err
	}
	return resources.Caller{ID: access.ClientID, Authorize: authorizer(access)}, nil
}

func (s smartAuth) Challenge(err error) string { return s.p.Challenge(err) }

func authorizer(access *smart.Access) func(string, resources.Interaction) error {
	return func(typ string, i resources.Interaction) error {
		perm, ok := permissions[i]
		if ok && access.Allows(typ, perm) {
			return nil
		}
		what := typ
		if typ == "*" {
			what = "all resource types"
		}
		return outcome.E(outcome.Forbidden, "the access token's scopes do not permit %s on %s", i, what)
	}
}
