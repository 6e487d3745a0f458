package resources

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/fhirserver/fhirserver/outcome"
	"github.com/fhirserver/fhirserver/profiles"
	"github.com/fhirserver/fhirserver/search"
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

// Caller is who asks: ID names the client (for the inbound log, never PHI),
// and Authorize refuses what its token does not cover. A Caller without
// Authorize may do nothing: access is granted, never assumed.
type Caller struct {
	ID string
	// User and FHIRUser name the person behind the token, when there is one:
	// for the audit record.
	User, FHIRUser string
	Role           string // the user's role; empty for a backend service
	Admin          bool   // an admin user's token with the admin scope: may use the admin API
	// Care, for a user's request, holds what the database returns to the
	// patients the user may see (row-level security); nil: no such limit.
	Care *storage.Care
	// BreakGlass: the user has emergency access in force; every access is
	// audited with purpose of use BTG.
	BreakGlass bool
	Authorize  func(resourceType string, i Interaction) error
	// Patient, when it returns an id, holds an authorized interaction to
	// that patient's reach: the patient, its compartment, and what they
	// point at (a SMART patient/ scope). Nil or empty: no such limit.
	Patient func(resourceType string, i Interaction) string
	// Filters, when it returns queries, holds an authorized interaction to
	// the resources matching one of them (SMART v2 scopes narrowed by
	// search parameters, patient/Observation.rs?category=laboratory).
	Filters func(resourceType string, i Interaction) []string
	// Self is the caller's own resource ("Practitioner/dr1"), which it may
	// read whatever its other scopes: SMART's fhirUser scope.
	Self string
	// Expires is when the caller's token ends (zero: not known): what
	// outlives the request that authenticated it (a WebSocket) must end
	// by then.
	Expires time.Time
}

// AllowAll authorizes every interaction; it is for the operator's own
// commands (fhirserver load), which act with the machine owner's authority.
func AllowAll(string, Interaction) error { return nil }

func (c Caller) allow(typ string, i Interaction) error {
	if c.Authorize == nil {
		return outcome.E(outcome.Forbidden, "no access granted")
	}
	return c.Authorize(typ, i)
}

// patient is the patient whose reach limits the interaction, if any.
func (c Caller) patient(typ string, i Interaction) string {
	if c.Patient == nil {
		return ""
	}
	return c.Patient(typ, i)
}

func (c Caller) filters(typ string, i Interaction) []string {
	if c.Filters == nil {
		return nil
	}
	return c.Filters(typ, i)
}

// allowWrite is allow for a write: one held to a patient is checked
// resource by resource as it is written (work.guard); one held to narrowed
// scopes is refused, as no write is checked against their queries yet.
func (c Caller) allowWrite(typ string, i Interaction) error {
	if err := readOnly(typ, i); err != nil {
		return err
	}
	if err := c.allow(typ, i); err != nil {
		return err
	}
	if len(c.filters(typ, i)) > 0 {
		return outcome.E(outcome.Forbidden, "a token limited to some %s records cannot %s them", typ, i)
	}
	return nil
}

// AllowWrite is allowWrite for an operation that changes a resource by a
// path of its own (a telehealth move writes the session's Encounter): the
// caller is held to the rule of every write (scope, role, no narrowed
// scope) before anything moves, not only to a read of the resource.
func (c Caller) AllowWrite(typ string, i Interaction) error { return c.allowWrite(typ, i) }

// allowUnlimited refuses an interaction the caller may do only within a
// patient's reach or through narrowed scopes, where it is not checked
// resource by resource (histories across a type, conditional writes'
// searches, reads inside a Bundle): granting it whole would grant too much.
func (c Caller) allowUnlimited(typ string, i Interaction) error {
	if err := readOnly(typ, i); err != nil {
		return err
	}
	if err := c.allow(typ, i); err != nil {
		return err
	}
	if c.patient(typ, i) != "" || len(c.filters(typ, i)) > 0 {
		return outcome.E(outcome.Forbidden, "a token limited to one patient or to some %s records cannot %s them yet", typ, i)
	}
	return nil
}

// Return is the client's Prefer: return choice.
type Return int

const (
	ReturnDefault Return = iota
	ReturnMinimal
	ReturnRepresentation
	ReturnOutcome
)

// Options are the request's preferences and preconditions.
type Options struct {
	Return   Return
	Strict   bool   // Prefer: handling=strict
	IfMatch  string // the raw If-Match header
	IfNone   string // the raw If-None-Exist header
	Query    string // conditional criteria of a type-level PUT or DELETE
	BaseURL  string // this request's FHIR base, for links
	NowAfter time.Time
}

// Result is what an interaction answers. Body is a resource or Bundle, or
// nil; Version, when set, gives the ETag, Last-Modified and Location.
type Result struct {
	Status   int
	Version  *storage.Version
	Body     []byte
	Location string
	Warnings []string
	// Keys are the resources a Bundle result returns or touches, for the
	// audit record; a single resource's is Version's.
	Keys []storage.Key
}

// Touched is what the result returns or changes, for the audit record.
func (r Result) Touched() []storage.Key {
	if len(r.Keys) == 0 && r.Version != nil {
		return []storage.Key{r.Version.Key}
	}
	return r.Keys
}

func keysOf(vs ...[]storage.Version) []storage.Key {
	var out []storage.Key
	for _, list := range vs {
		for _, v := range list {
			out = append(out, v.Key)
		}
	}
	return out
}

// Service runs the interactions against the store.
type Service struct {
	store  *storage.Store
	search *search.Registry
	log    *slog.Logger
	// The (type, index code) pairs that put a resource in a patient's
	// compartment, worked out once: as lists for queries, as a set.
	linkTypes, linkParams, linkPairs []string
	links                            map[string]bool
	// validation is how writes are checked against the profiles they claim.
	validation profiles.Options
	validator  Validator
	// maxResourceBytes bounds what a patch produces (patch.go).
	maxResourceBytes int64
	// appointmentHook hears every appointment move, inside its transaction.
	appointmentHook AppointmentHook
}

// AppointmentMove is a change of an appointment's status as a write made
// it: the new version, and the slots it let go of.
type AppointmentMove struct {
	ID, From, To string
	Appointment  map[string]any
	Freed        []string
}

// AppointmentHook runs on every appointment move, in the write's
// transaction: what it writes commits with the move, and its error undoes
// it (the waitlist promotes a patient to a freed slot this way).
type AppointmentHook func(ctx context.Context, t *Txn, m AppointmentMove) error

// SetAppointmentHook sets the hook; set it before serving.
func (s *Service) SetAppointmentHook(h AppointmentHook) { s.appointmentHook = h }

// Validator decodes a request body and checks it against the definitions
// (profiles.ParseWith). Benchmarks inject one that only decodes, to measure
// what validation costs; the server has no switch that turns it off.
type Validator func(body []byte, o profiles.Options) (*profiles.Resource, error)

// SetValidator replaces the validator; for benchmarks.
func (s *Service) SetValidator(v Validator) { s.validator = v }

// parse decodes and validates a body.
func (s *Service) parse(body []byte) (*profiles.Resource, error) {
	return s.validator(body, s.validation)
}

// SetValidation sets how writes are checked against the profiles they
// claim (strict about unknown ones, lenient with departures); set it before
// serving.
func (s *Service) SetValidation(o profiles.Options) { s.validation = o }

// New returns a Service. The search definitions are compiled into the
// binary and tested to compile, so failing to load them is a broken build:
// New panics, after serve has already refused to start on the same error.
func New(store *storage.Store, log *slog.Logger) *Service {
	if log == nil {
		log = slog.Default()
	}
	reg, err := search.R4()
	if err != nil {
		panic(err)
	}
	if store != nil { // nil: parsing alone (fuzzing)
		store.Protect(Protection())
	}
	s := &Service{store: store, search: reg, log: log, links: map[string]bool{}, validator: profiles.ParseWith}
	for _, t := range reg.Types() {
		for _, code := range reg.CompartmentParams(t) {
			for _, ic := range reg.IndexCodes(t, code) {
				s.linkTypes, s.linkParams = append(s.linkTypes, t), append(s.linkParams, ic)
				s.linkPairs = append(s.linkPairs, t+" "+ic)
				s.links[t+" "+ic] = true
			}
		}
	}
	return s
}

func ok(body []byte, v *storage.Version) Result {
	return Result{Status: http.StatusOK, Body: body, Version: v}
}

// ctxDetached keeps request values but not cancellation: once a commit has
// started, a client hanging up must not leave us unsure what happened.
func ctxDetached(ctx context.Context) context.Context { return context.WithoutCancel(ctx) }

// FHIRUserRef is the caller's own resource as Type/id, whether the token
// names it relatively or by its full URL; "" when it names none.
func (c Caller) FHIRUserRef() string {
	parts := strings.Split(strings.TrimSuffix(c.FHIRUser, "/"), "/")
	if len(parts) < 2 {
		return ""
	}
	return parts[len(parts)-2] + "/" + parts[len(parts)-1]
}

// MaySearchAll refuses a caller whose reach is limited (to a patient, to
// narrowed scopes, to a user's care relationships) a search of every typ:
// for records kept outside resources, which row-level security and the
// patient reach do not filter.
func (c Caller) MaySearchAll(typ string) error {
	if c.Care != nil {
		return outcome.E(outcome.Forbidden, "searching every %s record is for backend services", typ)
	}
	return c.allowUnlimited(typ, Search)
}

// Resources decodes the resources of a Bundle result (a search's page).
func (r Result) Resources() ([]map[string]any, error) {
	var page struct {
		Entry []struct {
			Resource map[string]any `json:"resource"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(r.Body, &page); err != nil {
		return nil, err
	}
	out := make([]map[string]any, 0, len(page.Entry))
	for _, e := range page.Entry {
		out = append(out, e.Resource)
	}
	return out, nil
}
