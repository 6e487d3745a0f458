package access

import (
	"fmt"
	"strings"
	"time"

	"github.com/fhirserver/fhirserver/outcome"
	"github.com/fhirserver/fhirserver/storage"
)

// Interaction names a FHIR RESTful interaction, the unit that scopes grant.
type Interaction string

const (
	Read     Interaction = "read"
	VRead    Interaction = "vread"
	Search   Interaction = "search-type"
	History  Interaction = "history"
	Create   Interaction = "create"
	Update   Interaction = "update"
	Patch    Interaction = "patch"
	Delete   Interaction = "delete"
	Tx       Interaction = "transaction"
	BatchInt Interaction = "batch"
)

// permissions maps each interaction to the SMART v2 permission it needs;
// a transaction or batch is decided entry by entry.
var permissions = map[Interaction]rune{
	Read: 'r', VRead: 'r', History: 'r',
	Search: 's',
	Create: 'c',
	Update: 'u', Patch: 'u',
	Delete: 'd',
}

// Grant is what a token's scopes grant for one permission on one type.
type Grant struct {
	OK bool
	// Patient: only through patient/ scopes, so held to the patient in
	// context.
	Patient bool
	// Filters are the queries of narrowed v2 scopes that grant it
	// (category=laboratory): a resource must match one.
	Filters []string
}

// Scopes is what the authorization server says a token's scopes grant
// (smart.Access, adapted by fhirserver).
type Scopes interface {
	Grant(typ string, perm rune) Grant
	// Names reports whether a scope names typ itself, not by a wildcard.
	Names(typ string, perm rune) bool
}

// Caller is who asks and what its token grants. The zero Caller may do
// nothing: access is granted, never assumed.
type Caller struct {
	// ID names the client (for the inbound log and the audit, never PHI).
	ID string
	// User and FHIRUser name the person behind the token, when there is
	// one; Role is the user's role (empty for a backend service).
	User, FHIRUser, Role string
	// Admin: an admin user's token with the admin scope.
	Admin bool
	// Scopes is what the token's scopes grant.
	Scopes Scopes
	// Permissions are the user's role's permissions by type ("*": every
	// type), as the roles table holds them ("cruds"); nil for a backend
	// service, which its scopes alone hold.
	Permissions map[string]string
	// Patient is the patient in the token's context, to which patient/
	// scopes hold it.
	Patient string
	// Care, for a user's request, holds what the database returns to the
	// patients the user may see (row-level security); nil: no such limit.
	Care *storage.Care
	// BreakGlass: the user has emergency access in force; every access is
	// audited with purpose of use BTG.
	BreakGlass bool
	// Self is the caller's own resource ("Practitioner/dr1"), which it may
	// read whatever its other scopes: SMART's fhirUser scope.
	Self string
	// Expires is when the token ends (zero: not known): what outlives the
	// request that authenticated it (a WebSocket) must end by then.
	Expires time.Time
	// all is the server acting on its own authority (System).
	all bool
}

// System is the server itself, or its operator's command, acting with
// the authority of the machine's owner: every interaction is allowed.
// name says who in the audit and logs.
func System(name string) Caller { return Caller{ID: name, all: true} }

// AsSystem is c with the server's authority, its identity kept for the
// audit and logs: for the bookkeeping of an operation whose right the
// caller was already checked for.
func (c Caller) AsSystem() Caller { return Caller{ID: c.ID, User: c.User, all: true} }

// IsSystem reports whether c is the server acting on its own authority.
func (c Caller) IsSystem() bool { return c.all }

// Decision is the answer to "may this caller do this interaction on this
// type", with what limits it; the same decision refuses the request and
// explains it in its audit record.
type Decision struct {
	Allowed bool
	// Reason says why not (empty when allowed).
	Reason string
	// Patient, when set, holds the interaction to that patient's reach: the
	// patient, its compartment, and what they point at.
	Patient string
	// Filters, when set, hold it to the resources matching one query.
	Filters []string
	// kind is the refusal's: Forbidden, or NotSupported for what no token
	// may do.
	kind outcome.Kind
}

// Err is the refusal as the client gets it; nil when allowed.
func (d Decision) Err() error {
	if d.Allowed {
		return nil
	}
	kind := d.kind
	if kind == 0 {
		kind = outcome.Forbidden
	}
	return outcome.E(kind, "%s", d.Reason)
}

// Limited reports whether an allowed interaction holds only within a
// patient's reach or narrowed queries.
func (d Decision) Limited() bool { return d.Patient != "" || len(d.Filters) > 0 }

func refuse(format string, args ...any) Decision {
	return Decision{Reason: fmt.Sprintf(format, args...)}
}

// Decide answers whether c may do i on resources of typ: the type's own
// rules (the audit log is the server's), the role's permissions (as data),
// then the token's scopes and what they hold it to.
func (c Caller) Decide(typ string, i Interaction) Decision {
	if typ == AuditEventType && !reads(i) {
		return Decision{Reason: "AuditEvent is the server's audit log: it is written by the server alone", kind: outcome.NotSupported}
	}
	if c.all {
		return Decision{Allowed: true}
	}
	perm, ok := permissions[i]
	if !ok || c.Scopes == nil {
		return refuse("the access token's scopes do not permit %s on %s", i, what(typ))
	}
	if c.User != "" && !rolePermits(c.Permissions, typ, perm) {
		return refuse("the user's role (%s) does not permit %s on %s", c.Role, i, typ)
	}
	g := c.Scopes.Grant(typ, perm)
	// The audit log is read only through a scope that names it: a wildcard
	// is not enough.
	if !g.OK || typ == AuditEventType && !c.Scopes.Names(typ, perm) {
		return refuse("the access token's scopes do not permit %s on %s", i, what(typ))
	}
	d := Decision{Allowed: true, Filters: g.Filters}
	if g.Patient {
		d.Patient = c.Patient
	}
	return d
}

func what(typ string) string {
	if typ == "*" {
		return "all resource types"
	}
	return typ
}

func reads(i Interaction) bool { return i == Read || i == VRead || i == Search || i == History }

// rolePermits reports whether a role's permissions allow perm on typ.
func rolePermits(perms map[string]string, typ string, perm rune) bool {
	return strings.ContainsRune(perms["*"], perm) || (typ != "*" && strings.ContainsRune(perms[typ], perm))
}

// Allow refuses what c may not do at all; a limited grant passes (the
// caller then holds the work to its limits).
func (c Caller) Allow(typ string, i Interaction) error { return c.Decide(typ, i).Err() }

// PatientOf is the patient whose reach limits the interaction, if any.
func (c Caller) PatientOf(typ string, i Interaction) string { return c.Decide(typ, i).Patient }

// FiltersOf are the narrowed queries that limit the interaction, if any.
func (c Caller) FiltersOf(typ string, i Interaction) []string { return c.Decide(typ, i).Filters }

// AllowWrite is the rule of every write: scope and role, and no narrowed
// scope (no write is checked against their queries yet). A write held to
// a patient is checked resource by resource as it is written.
func (c Caller) AllowWrite(typ string, i Interaction) error {
	d := c.Decide(typ, i)
	if !d.Allowed {
		return d.Err()
	}
	if len(d.Filters) > 0 {
		return outcome.E(outcome.Forbidden, "a token limited to some %s records cannot %s them", typ, i)
	}
	return nil
}

// AllowUnlimited refuses an interaction the caller may do only within a
// patient's reach or through narrowed scopes, where it is not checked
// resource by resource (histories across a type, conditional writes'
// searches, reads inside a Bundle): granting it whole would grant too
// much.
func (c Caller) AllowUnlimited(typ string, i Interaction) error {
	d := c.Decide(typ, i)
	if !d.Allowed {
		return d.Err()
	}
	if d.Limited() {
		return outcome.E(outcome.Forbidden, "a token limited to one patient or to some %s records cannot %s them yet", typ, i)
	}
	return nil
}

// FHIRUserRef is the caller's own resource as Type/id, whether the token
// names it relatively or by its full URL; "" when it names none.
func (c Caller) FHIRUserRef() string {
	parts := strings.Split(strings.TrimSuffix(c.FHIRUser, "/"), "/")
	if len(parts) < 2 {
		return ""
	}
	return parts[len(parts)-2] + "/" + parts[len(parts)-1]
}

// Actor names who made a change, for the records kept beside resources:
// the user, else the client.
func (c Caller) Actor() string {
	if c.User != "" {
		return "user:" + c.User
	}
	return "client:" + c.ID
}

// MaySearchAll refuses a caller whose reach is limited (to a patient, to
// narrowed scopes, to a user's care relationships) a search of every typ:
// for records kept outside resources, which row-level security and the
// patient reach do not filter.
func (c Caller) MaySearchAll(typ string) error {
	if c.Care != nil {
		return outcome.E(outcome.Forbidden, "searching every %s record is for backend services", typ)
	}
	return c.AllowUnlimited(typ, Search)
}
