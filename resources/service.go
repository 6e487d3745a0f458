package resources

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/fhirserver/fhirserver/profiles"
	"github.com/fhirserver/fhirserver/search"
	"github.com/fhirserver/fhirserver/storage"
)

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
	// Stream, when set, writes the body in place of Body: a page of a
	// search or $everything, whose bodies are read as it is written, after
	// its audit record (from Keys) is durable. Once it has written, an
	// error leaves a broken Bundle that must not reach a client as a whole
	// one.
	Stream func(ctx context.Context, w io.Writer) error
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
	// bodiesRead, when set, hears how many bodies a streamed page has
	// just read (tests: a page holds at most a chunk of them).
	bodiesRead func(n int)
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
