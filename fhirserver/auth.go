package fhirserver

import (
	"context"
	"net/http"
	"slices"

	"github.com/fhirserver/fhirserver/outcome"
	"github.com/fhirserver/fhirserver/resources"
	"github.com/fhirserver/fhirserver/smart"
	"github.com/fhirserver/fhirserver/storage"
)

// permissions maps each interaction to the SMART v2 permission it needs.
var permissions = map[resources.Interaction]rune{
	resources.Read: 'r', resources.VRead: 'r', resources.History: 'r',
	resources.Search: 's',
	resources.Create: 'c',
	resources.Update: 'u', resources.Patch: 'u',
	resources.Delete: 'd',
}

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

func (s smartAuth) Authenticate(r *http.Request) (resources.Caller, error) {
	access, err := s.p.Authenticate(r)
	if err != nil {
		return resources.Caller{}, err
	}
	var role map[string]string
	if access.User != "" {
		if role, err = s.roles.For(r.Context(), access.Role); err != nil {
			return resources.Caller{}, outcome.E(outcome.Internal, "role permissions cannot be read").Wrap("authenticate", err)
		}
	}
	var care *storage.Care
	breakGlass := false
	if access.User != "" && !resources.SpansPatients(access.Role) {
		// Minimum necessary: a user's queries see only their patients. The
		// privacy officer's reviews and registration span patients; their
		// roles permit Tasks, or demographics and scheduling, alone.
		c := storage.CareOf(access.UserResource)
		if resources.BreaksGlass(access.Role) {
			// Only a role that may break the glass has its events count:
			// one recorded for another role grants nothing.
			broken, err := s.glass.BrokenGlass(r.Context(), access.User)
			if err != nil {
				return resources.Caller{}, outcome.E(outcome.Internal, "break-glass access cannot be read").Wrap("authenticate", err)
			}
			c.Patients = append(c.Patients, broken...)
			breakGlass = len(broken) > 0
		}
		care = &c
	}
	caller := resources.Caller{ID: access.ClientID, User: access.User, FHIRUser: access.FHIRUser, Role: access.Role,
		Authorize: authorizer(access, role), Patient: patientLimit(access), Filters: scopeFilters(access), Care: care, BreakGlass: breakGlass,
		Expires: access.Expires}
	if slices.Contains(access.Scopes, "fhirUser") {
		caller.Self = access.FHIRUser
	}
	caller.Admin = access.User != "" && access.Role == AdminRole && slices.Contains(access.Scopes, "admin")
	return caller, nil
}

func (s smartAuth) Challenge(err error) string { return s.p.Challenge(err) }

// authorizer permits what the token's scopes allow and, for a user's
// token, what the user's role may do too (role nil for a backend service).
func authorizer(access *smart.Access, role map[string]string) func(string, resources.Interaction) error {
	return func(typ string, i resources.Interaction) error {
		perm, ok := permissions[i]
		if ok && access.User != "" && !rolePermits(role, typ, perm) {
			return outcome.E(outcome.Forbidden, "the user's role (%s) does not permit %s on %s", access.Role, i, typ)
		}
		// The audit log is read only through a scope that names it: a
		// wildcard is not enough.
		if ok && access.Allows(typ, perm).OK && (typ != "AuditEvent" || access.Names(typ, perm)) {
			return nil
		}
		what := typ
		if typ == "*" {
			what = "all resource types"
		}
		return outcome.E(outcome.Forbidden, "the access token's scopes do not permit %s on %s", i, what)
	}
}

// patientLimit names the patient an interaction is held to when the token
// grants it only through patient/ scopes (or to a user who is a patient).
func patientLimit(access *smart.Access) func(string, resources.Interaction) string {
	return func(typ string, i resources.Interaction) string {
		perm, ok := permissions[i]
		if !ok {
			return ""
		}
		if g := access.Allows(typ, perm); g.OK && g.Patient {
			return access.Patient
		}
		return ""
	}
}

// scopeFilters are the search queries of the narrowed v2 scopes that
// grant an interaction (category=laboratory): a resource must match one.
func scopeFilters(access *smart.Access) func(string, resources.Interaction) []string {
	return func(typ string, i resources.Interaction) []string {
		perm, ok := permissions[i]
		if !ok {
			return nil
		}
		return access.Allows(typ, perm).Filters
	}
}
