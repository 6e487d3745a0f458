package fhirserver

import (
	"context"
	"net/http"
	"slices"

	"github.com/fhirserver/fhirserver/outcome"
	"github.com/fhirserver/fhirserver/resources/access"
	"github.com/fhirserver/fhirserver/smart"
	"github.com/fhirserver/fhirserver/storage"
)

// SMART authenticates FHIR requests with the SMART provider's tokens; a
// user's token is further held to what the user's role may do and to the
// patients the user may see (with any break-glass access in force).
func SMART(p *smart.Provider, roles *Roles, glass Glass) Authenticator {
	return smartAuth{p, roles, glass}
}

// Glass says which patients a user has emergency access to now.
type Glass interface {
	BrokenGlass(ctx context.Context, username string) ([]string, error)
}

type smartAuth struct {
	p     *smart.Provider
	roles *Roles
	glass Glass
}

func (s smartAuth) Authenticate(r *http.Request) (access.Caller, error) {
	tok, err := s.p.Authenticate(r)
	if err != nil {
		return access.Caller{}, err
	}
	caller := access.Caller{ID: tok.ClientID, User: tok.User, FHIRUser: tok.FHIRUser, Role: tok.Role,
		Scopes: scopes{tok}, Patient: tok.Patient, Expires: tok.Expires}
	if tok.User != "" {
		if caller.Permissions, err = s.roles.For(r.Context(), tok.Role); err != nil {
			return access.Caller{}, outcome.E(outcome.Internal, "role permissions cannot be read").Wrap("authenticate", err)
		}
	}
	if tok.User != "" && !access.SpansPatients(tok.Role) {
		// Minimum necessary: a user's queries see only their patients. The
		// privacy officer's reviews and registration span patients; their
		// roles permit Tasks, or demographics and scheduling, alone.
		c := storage.CareOf(tok.UserResource)
		if access.BreaksGlass(tok.Role) {
			// Only a role that may break the glass has its events count:
			// one recorded for another role grants nothing.
			broken, err := s.glass.BrokenGlass(r.Context(), tok.User)
			if err != nil {
				return access.Caller{}, outcome.E(outcome.Internal, "break-glass access cannot be read").Wrap("authenticate", err)
			}
			c.Patients = append(c.Patients, broken...)
			caller.BreakGlass = len(broken) > 0
		}
		caller.Care = &c
	}
	if slices.Contains(tok.Scopes, "fhirUser") {
		caller.Self = tok.FHIRUser
	}
	caller.Admin = tok.User != "" && tok.Role == access.AdminRole && slices.Contains(tok.Scopes, "admin")
	return caller, nil
}

func (s smartAuth) Challenge(err error) string { return s.p.Challenge(err) }

// scopes is what a SMART token's scopes grant, as access asks it.
type scopes struct{ tok *smart.Access }

func (s scopes) Grant(typ string, perm rune) access.Grant {
	g := s.tok.Allows(typ, perm)
	return access.Grant{OK: g.OK, Patient: g.Patient, Filters: g.Filters}
}

func (s scopes) Names(typ string, perm rune) bool { return s.tok.Names(typ, perm) }
