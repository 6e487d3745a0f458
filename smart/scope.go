package smart

import (
	"strings"
	"time"

	"github.com/fhirserver/fhirserver/profiles"
)

// Scope is a SMART resource scope, v1 (patient/Observation.read) or v2
// (system/Observation.rs?category=laboratory), with its permissions
// normalised to v2 letters so that the two syntaxes compare.
type Scope struct {
	Context string // patient, user or system
	Type    string // a resource type, or "*"
	Perms   string // a subsequence of "cruds"
	Query   string // v2 only: the parameters that narrow the scope, raw
	V1      bool
}

const allPerms = "cruds"

// v1Perms maps SMART v1 permissions to the v2 letters they grant.
var v1Perms = map[string]string{"read": "rs", "write": "cud", "*": "cruds"}

// nonResourceScopes are the scopes that grant context or identity rather
// than access to resources.
var nonResourceScopes = map[string]bool{
	"openid": true, "fhirUser": true, "profile": true, "launch": true,
	"launch/patient": true, "launch/encounter": true,
	"offline_access": true, "online_access": true,
	// This server's own: with a user of role admin, the admin API.
	"admin": true,
}

// ParseScope parses a resource scope; ok is false for anything else.
func ParseScope(s string) (Scope, bool) {
	ctx, rest, found := strings.Cut(s, "/")
	if !found || (ctx != "patient" && ctx != "user" && ctx != "system") {
		return Scope{}, false
	}
	typ, perms, found := strings.Cut(rest, ".")
	if !found || (typ != "*" && !profiles.IsResourceType(typ)) {
		return Scope{}, false
	}
	sc := Scope{Context: ctx, Type: typ}
	if p, ok := v1Perms[perms]; ok {
		sc.Perms, sc.V1 = p, true
		return sc, true
	}
	perms, sc.Query, _ = strings.Cut(perms, "?")
	if !validV2Perms(perms) {
		return Scope{}, false
	}
	sc.Perms = perms
	return sc, true
}

// validV2Perms: at least one of c, r, u, d, s, each once, in that order.
func validV2Perms(p string) bool {
	if p == "" {
		return false
	}
	i := 0
	for _, r := range p {
		j := strings.IndexRune(allPerms[i:], r)
		if j < 0 {
			return false
		}
		i += j + 1
	}
	return true
}

// ValidScope reports whether s is a scope this server knows how to grant.
func ValidScope(s string) bool {
	if nonResourceScopes[s] {
		return true
	}
	_, ok := ParseScope(s)
	return ok
}

// covers reports whether holding h grants everything n asks for.
func (h Scope) covers(n Scope) bool {
	if h.Context != n.Context || (h.Type != "*" && h.Type != n.Type) {
		return false
	}
	if h.Query != "" && h.Query != n.Query {
		return false
	}
	for _, p := range n.Perms {
		if !strings.ContainsRune(h.Perms, p) {
			return false
		}
	}
	return true
}

// scopeStrategy is fosite's check that a client may request a scope:
// needle must be covered by one of the client's registered scopes. SMART
// needs its own because fosite's strategies know neither wildcards in the
// resource type nor v2 permission letters.
func scopeStrategy(haystack []string, needle string) bool {
	want, isResource := ParseScope(needle)
	for _, h := range haystack {
		if h == needle {
			return ValidScope(needle)
		}
		if isResource {
			if have, ok := ParseScope(h); ok && have.covers(want) {
				return true
			}
		}
	}
	return false
}

// Access is what a valid access token grants.
type Access struct {
	ClientID string
	Scopes   []string
	// User is the signed-in user behind the token; empty for a backend
	// service's client credentials.
	User     string
	Role     string // the user's role
	FHIRUser string // the user's own resource (Practitioner/ID, Patient/ID), with the fhirUser scope
	// UserResource is the user's own resource whatever the scopes.
	UserResource string
	// Patient is the patient in context: patient/ scopes reach only the
	// compartment of this patient (and what it references).
	Patient   string
	Encounter string
	// Expires is when the token ends: what outlives the request it
	// authenticated (a WebSocket) ends then too.
	Expires time.Time
	parsed  []Scope
}

func newAccess(clientID string, granted []string) *Access {
	a := &Access{ClientID: clientID, Scopes: granted}
	for _, s := range granted {
		if sc, ok := ParseScope(s); ok {
			a.parsed = append(a.parsed, sc)
		}
	}
	return a
}

// Names reports whether a scope naming typ itself (not a wildcard)
// permits perm: what sensitive types such as the audit log ask for.
func (a *Access) Names(typ string, perm rune) bool {
	for _, s := range a.parsed {
		if s.Type == typ && strings.ContainsRune(s.Perms, perm) {
			return true
		}
	}
	return false
}

// Grant is what a token permits for one permission on one type.
type Grant struct {
	OK bool
	// Patient: only within the reach of the patient in context.
	Patient bool
	// Filters, when not empty, are the search queries of v2 scopes narrowed
	// by parameters (category=laboratory): a resource must match one.
	Filters []string
}

// Allows reports what the token permits for perm (one of c, r, u, d, s)
// on resources of type typ ("*" for an interaction across all types, which
// needs a wildcard scope).
//
// patient/ scopes grant only with a patient in context, and only within
// its reach; user/ scopes grant what the scope says, the user's own
// permissions arriving with the role permissions of the HIPAA controls (a
// user who is a patient is always held to their own record); system/
// scopes grant only to backend services. Where both unlimited and
// patient-limited scopes apply, the unlimited ones decide: the grant is
// never more than one of them gives.
func (a *Access) Allows(typ string, perm rune) Grant {
	var open, limited []Scope
	for _, s := range a.parsed {
		if !strings.ContainsRune(s.Perms, perm) || (s.Type != "*" && s.Type != typ) || (s.Query != "" && typ == "*") {
			continue
		}
		switch {
		case s.Context == "patient" && a.Patient != "",
			s.Context == "user" && a.User != "" && strings.HasPrefix(a.FHIRUser, "Patient/"):
			limited = append(limited, s)
		case s.Context == "user" && a.User != "", s.Context == "system" && a.User == "":
			open = append(open, s)
		}
	}
	g := Grant{OK: len(open) > 0 || len(limited) > 0, Patient: len(open) == 0 && len(limited) > 0}
	deciding := open
	if g.Patient {
		deciding = limited
	}
	for _, s := range deciding {
		if s.Query == "" {
			return Grant{OK: g.OK, Patient: g.Patient}
		}
		g.Filters = append(g.Filters, s.Query)
	}
	return g
}
