package telehealth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/fhirserver/fhirserver/outcome"
	"github.com/fhirserver/fhirserver/resources"
	"github.com/fhirserver/fhirserver/resources/access"
	"github.com/fhirserver/fhirserver/storage"
	schedstore "github.com/fhirserver/fhirserver/storage/scheduling"
)

// Canonical URLs this server defines for telehealth.
const (
	SessionTypeSystem = "http://fhirserver.dev/fhir/CodeSystem/telehealth-session-type"
	StateURL          = "http://fhirserver.dev/fhir/StructureDefinition/telehealth-state"
	ConsentSystem     = "http://fhirserver.dev/fhir/CodeSystem/telehealth-consent"
	MethodURL         = "http://fhirserver.dev/fhir/StructureDefinition/consent-method"
	IPURL             = "http://fhirserver.dev/fhir/StructureDefinition/consent-ip"
)

// SessionTypes are the kinds of session.
var SessionTypes = []string{"CONSULTATION", "FOLLOW_UP", "TRIAGE", "URGENT_CARE", "MENTAL_HEALTH", "CHRONIC_DISEASE_REVIEW"}

// moves are the lifecycle: from each state, where a session may go.
var moves = map[string][]string{
	"":             {"SCHEDULED"},
	"SCHEDULED":    {"WAITING_ROOM", "ABANDONED", "NO_SHOW"},
	"WAITING_ROOM": {"ACTIVE", "ABANDONED", "NO_SHOW"},
	"ACTIVE":       {"COMPLETED", "ABANDONED"},
}

// encounterStatus is the Encounter status each state shows.
var encounterStatus = map[string]string{
	"SCHEDULED": "planned", "WAITING_ROOM": "arrived", "ACTIVE": "in-progress",
	"COMPLETED": "finished", "ABANDONED": "cancelled", "NO_SHOW": "cancelled",
}

// Store is what the sessions keep outside resources.
type Store interface {
	TelehealthState(ctx context.Context, encounter string) (string, time.Time, error)
	Waiting(ctx context.Context, practitioner string) ([]schedstore.WaitingSession, error)
	AverageConsultation(ctx context.Context, practitioner string) (time.Duration, error)
	CurrentRoom(ctx context.Context, encounter string) (schedstore.TelehealthRoom, error)
	MapRoom(ctx context.Context, encounter string, r schedstore.TelehealthRoom, reason string) error
	RecordToken(ctx context.Context, jti, encounter, participant, provider string, expires time.Time) error
	UseToken(ctx context.Context, jti, room string) (string, error)
	AddQuality(ctx context.Context, encounter, kind string, value []byte, by string) error
}

// Notifier tells a clinician that a patient is waiting (a pager, a push
// service, a message in the EHR): an adapter.
type Notifier interface {
	PatientWaiting(ctx context.Context, practitioner, encounter string, position int) error
}

// Service runs the sessions.
type Service struct {
	Res       *resources.Service
	Store     Store
	Providers []VideoProvider // in order of preference: a failed one gives way to the next
	Notifier  Notifier
	TokenTTL  time.Duration // a video token's lifetime; 2 minutes when 0
	// DefaultConsult estimates a wait before a practitioner has completed
	// a session; 15 minutes when 0.
	DefaultConsult time.Duration
	Now            func() time.Time

	mu   sync.Mutex
	subs map[string]map[string]map[chan Position]bool // practitioner -> encounter -> subscribers
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// server is the sessions' own authority for the Encounter's bookkeeping,
// once the caller's right to the move has been checked.
func server(c access.Caller) access.Caller {
	return access.Caller{ID: c.ID, User: c.User}.AsSystem()
}

// Create is POST Encounter/$telehealth: appointment (valueReference) and
// sessionType (valueCode). It makes the Encounter (class VR, planned),
// SCHEDULED, and answers it (201).
func (s *Service) Create(ctx context.Context, c access.Caller, body []byte) (resources.Result, error) {
	p, err := params(body)
	if err != nil {
		return resources.Result{}, err
	}
	apptID := strings.TrimPrefix(p.ref("appointment"), "Appointment/")
	kind := p.code("sessionType")
	if !slices.Contains(SessionTypes, kind) {
		return resources.Result{}, outcome.E(outcome.Invalid, "sessionType is one of %s", strings.Join(SessionTypes, ", ")).At("sessionType")
	}
	ar, err := s.Res.Read(ctx, c, storage.Key{Type: "Appointment", ID: apptID})
	if err != nil {
		return resources.Result{}, err
	}
	var appt struct {
		Participant []struct{ Actor struct{ Reference string } }
	}
	if err := json.Unmarshal(ar.Body, &appt); err != nil {
		return resources.Result{}, err
	}
	enc := map[string]any{"resourceType": "Encounter", "status": "planned",
		"class":       map[string]any{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "VR", "display": "virtual"},
		"type":        []any{map[string]any{"coding": []any{map[string]any{"system": SessionTypeSystem, "code": kind}}}},
		"appointment": []any{map[string]any{"reference": "Appointment/" + apptID}},
		"extension":   []any{map[string]any{"url": StateURL, "valueCode": "SCHEDULED"}}}
	practitioner := ""
	for _, pa := range appt.Participant {
		switch ref := pa.Actor.Reference; {
		case strings.HasPrefix(ref, "Patient/"):
			enc["subject"] = map[string]any{"reference": ref}
		case strings.HasPrefix(ref, "Practitioner/"):
			practitioner = strings.TrimPrefix(ref, "Practitioner/")
			enc["participant"] = []any{map[string]any{"individual": map[string]any{"reference": ref}}}
		}
	}
	if enc["subject"] == nil || practitioner == "" {
		return resources.Result{}, outcome.E(outcome.Unprocessable, "the appointment must name a patient and a practitioner").At("appointment")
	}
	var made *storage.Version
	err = s.Res.Transact(ctx, c, func(t *resources.Txn) error {
		v, err := t.Create(ctx, enc)
		if err != nil {
			return err
		}
		made = v
		return schedstore.In(t.Tx()).AddTelehealthEvent(ctx, schedstore.TelehealthMove{Encounter: v.ID, Practitioner: practitioner, Actor: actor(c), To: "SCHEDULED"})
	})
	if err != nil {
		return resources.Result{}, err
	}
	return resources.Result{Status: 201, Body: made.Resource, Version: made, Keys: []storage.Key{made.Key}}, nil
}

// Move takes a session to state: $join (WAITING_ROOM, the patient), $start
// (ACTIVE), $end (COMPLETED, ABANDONED or NO_SHOW). A move the lifecycle
// does not allow answers 409 naming the allowed ones. Closing a session
// that was active records its duration (Encounter.length, period).
func (s *Service) Move(ctx context.Context, c access.Caller, id, to string) (resources.Result, error) {
	k := storage.Key{Type: "Encounter", ID: id}
	r, err := s.Res.Read(ctx, c, k)
	if err != nil {
		return resources.Result{}, err
	}
	var enc map[string]any
	if err := json.Unmarshal(r.Body, &enc); err != nil {
		return resources.Result{}, err
	}
	practitioner := practitionerOf(enc)
	patientAct, err := mayMove(c, to, patientOf(enc), practitioner)
	if err != nil {
		return resources.Result{}, err
	}
	from, since, err := s.Store.TelehealthState(ctx, id)
	if err != nil {
		return resources.Result{}, err
	}
	if from == "" {
		return resources.Result{}, outcome.E(outcome.Unprocessable, "Encounter/%s is not a telehealth session", id)
	}
	if !slices.Contains(moves[from], to) {
		return resources.Result{}, outcome.E(outcome.Conflict, "a session cannot go from %s to %s; from %s it may go to %s",
			from, to, from, strings.Join(moves[from], ", "))
	}
	now := s.now().UTC()
	delete(enc, "meta")
	enc["status"] = encounterStatus[to]
	enc["extension"] = []any{map[string]any{"url": StateURL, "valueCode": to}}
	period, _ := enc["period"].(map[string]any)
	if period == nil {
		period = map[string]any{}
	}
	switch {
	case to == "ACTIVE":
		period["start"] = now.Format(time.RFC3339)
	case from == "ACTIVE":
		period["end"] = now.Format(time.RFC3339)
		minutes := now.Sub(since).Minutes()
		enc["length"] = map[string]any{"value": float64(int(minutes*100)) / 100, "unit": "min", "system": "http://unitsofmeasure.org", "code": "min"}
	}
	if len(period) > 0 {
		enc["period"] = period
	}
	var v *storage.Version
	// The Encounter is written as the caller, whose update the write path
	// checks again (a token held to a patient writes only in that
	// patient's compartment; a user makes no care relationship by it),
	// except for the patient's own act, written as the server. What
	// follows from the move (the appointment, its slots, the waitlist) is
	// the server's bookkeeping.
	err = s.Res.Transact(ctx, c, func(t *resources.Txn) error {
		var err error
		if v, err = t.Put(ctx, enc, patientAct); err != nil {
			return err
		}
		if err := schedstore.In(t.Tx()).AddTelehealthEvent(ctx, schedstore.TelehealthMove{Encounter: id, Practitioner: practitioner, Actor: actor(c), From: from, To: to}); err != nil {
			return err
		}
		return s.moveAppointment(ctx, t, enc, to)
	})
	if err != nil {
		return resources.Result{}, err
	}
	if to == "WAITING_ROOM" || from == "WAITING_ROOM" {
		s.queueChanged(ctx, practitioner)
	}
	if len(moves[to]) == 0 { // closed: nobody needs the room any more
		if err := s.endRoom(ctx, id); err != nil {
			return resources.Result{}, err
		}
	}
	if to == "WAITING_ROOM" && s.Notifier != nil {
		pos, _ := s.Position(ctx, id, practitioner)
		if err := s.Notifier.PatientWaiting(ctx, practitioner, id, pos.Position); err != nil {
			return resources.Result{}, fmt.Errorf("telehealth: notify the clinician: %w", err)
		}
	}
	return resources.Result{Status: 200, Body: v.Resource, Version: v, Keys: []storage.Key{k}}, nil
}

// mayMove says who moves a session, and whether the move is the session
// patient's own act (asServer): then its Encounter is written as the
// server. A move changes the Encounter, so besides the participant rule
// (the practitioner starts, closes and marks a no-show; a backend service,
// with no user, makes any move for the EHR that drives sessions) it takes
// what any update of an Encounter takes: a scope that updates Encounters
// and, for a user, a role that permits it. The session's patient joining
// or leaving is the exception: that is the patient's act, which the
// operation grants them, not a generic update of the Encounter (a
// patient's role reads and searches; no scope names a join), so the
// participant rule alone suffices, with the read of the session already
// made.
func mayMove(c access.Caller, to, patient, practitioner string) (asServer bool, err error) {
	who := c.FHIRUserRef()
	if c.User != "" {
		switch {
		case patient != "" && who == "Patient/"+patient && (to == "WAITING_ROOM" || to == "ABANDONED"):
			return true, nil // a patient joins, and may leave
		case to == "WAITING_ROOM" || practitioner == "" || who != "Practitioner/"+practitioner:
			return false, outcome.E(outcome.Forbidden, "a session is joined by its patient and started and closed by its practitioner")
		}
	}
	if err := c.AllowWrite("Encounter", access.Update); err != nil {
		return false, err
	}
	return false, nil
}

// appointmentStatus is where a session's move takes its appointment: a
// patient in the waiting room has arrived (so the no-show job leaves them
// be), a completed session fulfils it, a no-show is one.
var appointmentStatus = map[string]string{"WAITING_ROOM": "arrived", "COMPLETED": "fulfilled", "NO_SHOW": "noshow"}

// moveAppointment moves the session's appointment along with it, when its
// lifecycle allows (a booked appointment arrives; an arrived one is
// fulfilled).
func (s *Service) moveAppointment(ctx context.Context, t *resources.Txn, enc map[string]any, to string) error {
	status, ok := appointmentStatus[to]
	if !ok {
		return nil
	}
	refs, _ := enc["appointment"].([]any)
	for _, r := range refs {
		ref, _ := r.(map[string]any)["reference"].(string)
		k := storage.Key{Type: "Appointment", ID: strings.TrimPrefix(ref, "Appointment/")}
		cur, err := t.Read(ctx, k)
		if err != nil {
			continue
		}
		var appt map[string]any
		if err := json.Unmarshal(cur.Resource, &appt); err != nil {
			return err
		}
		from, _ := appt["status"].(string)
		if from == status || (status == "arrived" && from != "booked") || (status == "fulfilled" && from != "arrived") || (status == "noshow" && from != "booked") {
			continue
		}
		delete(appt, "meta")
		appt["status"] = status
		if _, err := t.Put(ctx, appt, true); err != nil {
			return err
		}
	}
	return nil
}

// SessionNoShow is the no-show job's hook: a telehealth session of the
// appointment still SCHEDULED (the patient never joined) becomes NO_SHOW,
// in the job's transaction.
func (s *Service) SessionNoShow(ctx context.Context, t *resources.Txn, appointment string) error {
	r, err := s.Res.Search(storage.Unrestricted(ctx), access.System("telehealth"), "Encounter",
		url.Values{"appointment": {"Appointment/" + appointment}, "class": {"VR"}}, resources.Options{}, nil)
	if err != nil {
		return err
	}
	sessions, err := r.Resources()
	if err != nil {
		return err
	}
	for _, enc := range sessions {
		id, _ := enc["id"].(string)
		state, _, err := s.Store.TelehealthState(ctx, id)
		if err != nil {
			return err
		}
		if state != "SCHEDULED" {
			continue
		}
		delete(enc, "meta")
		enc["status"] = encounterStatus["NO_SHOW"]
		enc["extension"] = []any{map[string]any{"url": StateURL, "valueCode": "NO_SHOW"}}
		if _, err := t.Put(ctx, enc, true); err != nil {
			return err
		}
		if err := schedstore.In(t.Tx()).AddTelehealthEvent(ctx, schedstore.TelehealthMove{Encounter: id, Practitioner: practitionerOf(enc), Actor: "noshow-job", From: state, To: "NO_SHOW"}); err != nil {
			return err
		}
	}
	return nil
}

// endRoom ends the session's room in force, if it has one and its
// provider is still offered.
func (s *Service) endRoom(ctx context.Context, id string) error {
	cur, err := s.Store.CurrentRoom(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if p := s.provider(cur.Provider); p != nil {
		return p.EndRoom(ctx, cur.Room)
	}
	return nil
}

// Position is a session's place in its practitioner's waiting room.
type Position struct {
	State                string `json:"state"`
	Position             int    `json:"position"` // 1 is next; 0 when not waiting
	EstimatedWaitSeconds int    `json:"estimatedWaitSeconds"`
}

// Position computes where a session stands: its place by join time, and
// the wait as that many of the practitioner's average consultations.
func (s *Service) Position(ctx context.Context, encounter, practitioner string) (Position, error) {
	state, _, err := s.Store.TelehealthState(ctx, encounter)
	if err != nil {
		return Position{}, err
	}
	p := Position{State: state}
	if state != "WAITING_ROOM" {
		return p, nil
	}
	waiting, err := s.Store.Waiting(ctx, practitioner)
	if err != nil {
		return p, err
	}
	avg, err := s.Store.AverageConsultation(ctx, practitioner)
	if err != nil {
		return p, err
	}
	if avg == 0 {
		avg = s.DefaultConsult
		if avg == 0 {
			avg = 15 * time.Minute
		}
	}
	for i, w := range waiting {
		if w.Encounter == encounter {
			p.Position = i + 1
			p.EstimatedWaitSeconds = int((time.Duration(i) * avg).Seconds())
		}
	}
	return p, nil
}

// Subscribe follows a session's position: the channel gets the position
// now and after every change of its practitioner's waiting room, until
// cancel.
func (s *Service) Subscribe(ctx context.Context, encounter, practitioner string) (<-chan Position, func()) {
	ch := make(chan Position, 8)
	s.mu.Lock()
	if s.subs == nil {
		s.subs = map[string]map[string]map[chan Position]bool{}
	}
	if s.subs[practitioner] == nil {
		s.subs[practitioner] = map[string]map[chan Position]bool{}
	}
	if s.subs[practitioner][encounter] == nil {
		s.subs[practitioner][encounter] = map[chan Position]bool{}
	}
	s.subs[practitioner][encounter][ch] = true
	s.mu.Unlock()
	if p, err := s.Position(ctx, encounter, practitioner); err == nil {
		ch <- p
	}
	return ch, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		delete(s.subs[practitioner][encounter], ch)
		if len(s.subs[practitioner][encounter]) == 0 {
			delete(s.subs[practitioner], encounter)
		}
		if len(s.subs[practitioner]) == 0 {
			delete(s.subs, practitioner)
		}
	}
}

// queueChanged pushes the new positions of a practitioner's waiting room
// to whoever follows a session in it.
func (s *Service) queueChanged(ctx context.Context, practitioner string) {
	s.mu.Lock()
	var encounters []string
	for e := range s.subs[practitioner] {
		encounters = append(encounters, e)
	}
	s.mu.Unlock()
	for _, e := range encounters {
		p, err := s.Position(ctx, e, practitioner)
		if err != nil {
			continue
		}
		s.mu.Lock()
		for ch := range s.subs[practitioner][e] {
			select {
			case ch <- p:
			default: // a slow reader gets the next one
			}
		}
		s.mu.Unlock()
	}
}

// Watcher reads a session for a watcher of its waiting room and answers
// its practitioner, whose queue that is. The queue is watched by the
// session's practitioner, by the session's patient (their own place and
// wait, which the waiting room pushes to them), and by backend services
// that read the Encounter (the EHR's front end); any other user who may
// read the Encounter is refused: the queue's changes are the
// practitioner's other patients coming and going.
func (s *Service) Watcher(ctx context.Context, c access.Caller, id string) (string, error) {
	r, err := s.Res.Read(ctx, c, storage.Key{Type: "Encounter", ID: id})
	if err != nil {
		return "", err
	}
	var enc map[string]any
	if err := json.Unmarshal(r.Body, &enc); err != nil {
		return "", err
	}
	practitioner, patient := practitionerOf(enc), patientOf(enc)
	switch who := c.FHIRUserRef(); {
	case c.User == "":
	case practitioner != "" && who == "Practitioner/"+practitioner:
	case patient != "" && who == "Patient/"+patient:
	default:
		return "", outcome.E(outcome.Forbidden, "a waiting room is watched by the session's practitioner and patient")
	}
	return practitioner, nil
}

func practitionerOf(enc map[string]any) string {
	parts, _ := enc["participant"].([]any)
	for _, p := range parts {
		ind, _ := p.(map[string]any)["individual"].(map[string]any)
		if ref, _ := ind["reference"].(string); strings.HasPrefix(ref, "Practitioner/") {
			return strings.TrimPrefix(ref, "Practitioner/")
		}
	}
	return ""
}

func patientOf(enc map[string]any) string {
	sub, _ := enc["subject"].(map[string]any)
	ref, _ := sub["reference"].(string)
	return strings.TrimPrefix(ref, "Patient/")
}

func actor(c access.Caller) string {
	if c.User != "" {
		return "user:" + c.User
	}
	return "client:" + c.ID
}

// errNoProvider is every video provider failing.
var errNoProvider = errors.New("telehealth: no video provider could make the room")
