package scheduling

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/fhirserver/fhirserver/outcome"
	"github.com/fhirserver/fhirserver/resources"
	"github.com/fhirserver/fhirserver/resources/access"
	"github.com/fhirserver/fhirserver/storage"
	schedstore "github.com/fhirserver/fhirserver/storage/scheduling"
)

// Weights make a waitlist entry's priority score:
//
//	score = Urgency × urgency (1–5) + WaitPerDay × days waited − DistancePerKm × km to the location
//
// The highest score is offered a freed slot first; ties go to whoever
// joined first.
type Weights struct {
	Urgency, WaitPerDay, DistancePerKm float64
}

// DefaultWeights put a step of urgency at ten days of waiting, and a
// kilometre at a tenth of a day.
var DefaultWeights = Weights{Urgency: 10, WaitPerDay: 1, DistancePerKm: 0.1}

// ParseWeights reads "urgency=10,wait-per-day=1,distance-per-km=0.1".
func ParseWeights(s string) (Weights, error) {
	w := DefaultWeights
	for _, kv := range strings.Split(s, ",") {
		if strings.TrimSpace(kv) == "" {
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if !ok || err != nil || f < 0 {
			return w, fmt.Errorf("waitlist weights: %q is not name=non-negative number", kv)
		}
		switch strings.TrimSpace(k) {
		case "urgency":
			w.Urgency = f
		case "wait-per-day":
			w.WaitPerDay = f
		case "distance-per-km":
			w.DistancePerKm = f
		default:
			return w, fmt.Errorf("waitlist weights: unknown weight %q (urgency, wait-per-day, distance-per-km)", k)
		}
	}
	return w, nil
}

// scoreInputs is what a score was made of, as every event records it.
type scoreInputs struct {
	Urgency    int     `json:"urgency"`
	WaitedDays float64 `json:"waitedDays"`
	DistanceKm float64 `json:"distanceKm"`
	Weights    Weights `json:"weights"`
}

func (w Weights) score(e schedstore.WaitlistEntry, now time.Time) (float64, []byte) {
	in := scoreInputs{Urgency: e.Urgency, WaitedDays: math.Round(now.Sub(e.Joined).Hours()/24*1000) / 1000, DistanceKm: e.DistanceKm, Weights: w}
	s := w.Urgency*float64(in.Urgency) + w.WaitPerDay*in.WaitedDays - w.DistancePerKm*in.DistanceKm
	b, _ := json.Marshal(in)
	return math.Round(s*1000) / 1000, b
}

// Waitlist keeps patients waiting for slots and offers each freed slot to
// the best-placed one.
type Waitlist struct {
	Res     *resources.Service
	Weights Weights
	Now     func() time.Time
}

func (wl *Waitlist) now() time.Time {
	if wl.Now != nil {
		return wl.Now()
	}
	return time.Now()
}

// Join is POST Appointment/$waitlist: a Parameters with patient and
// practitioner (valueReference) or specialty (valueCoding), visitType
// (valueCode), urgency (valueInteger 1–5) and distanceKm (valueDecimal, to
// the practitioner's location). It makes an Appointment with status
// waitlist and the entry, and answers the Appointment (201).
func (wl *Waitlist) Join(ctx context.Context, c access.Caller, body []byte) (resources.Result, error) {
	e, err := waitlistParams(body)
	if err != nil {
		return resources.Result{}, err
	}
	appt := map[string]any{"resourceType": "Appointment", "status": "waitlist", "created": wl.now().UTC().Format("2006-01-02"),
		"priority":    e.Urgency,
		"participant": []any{map[string]any{"actor": map[string]any{"reference": "Patient/" + e.Patient}, "status": "needs-action"}}}
	if e.Practitioner != "" {
		appt["participant"] = append(appt["participant"].([]any), map[string]any{"actor": map[string]any{"reference": "Practitioner/" + e.Practitioner}, "status": "needs-action"})
	}
	if e.Specialty != "" {
		system, code, _ := strings.Cut(e.Specialty, "|")
		appt["specialty"] = []any{map[string]any{"coding": []any{map[string]any{"system": system, "code": code}}}}
	}
	if e.VisitType != "" {
		appt["serviceType"] = []any{map[string]any{"coding": []any{map[string]any{"system": VisitTypeSystem, "code": e.VisitType}}}}
	}
	var made *storage.Version
	err = wl.Res.Transact(ctx, c, func(t *resources.Txn) error {
		v, err := t.Create(ctx, appt)
		if err != nil {
			return err
		}
		made, e.Appointment = v, v.ID
		id, err := schedstore.In(t.Tx()).AddWaitlistEntry(ctx, e)
		if err != nil {
			return err
		}
		e.ID, e.Joined = id, wl.now()
		score, inputs := wl.Weights.score(e, wl.now())
		return schedstore.In(t.Tx()).AddWaitlistEvent(ctx, schedstore.WaitlistEvent{Entry: id, Kind: "JOINED", Score: score, Inputs: inputs, Actor: actor(c)})
	})
	if err != nil {
		return resources.Result{}, err
	}
	return resources.Result{Status: 201, Body: made.Resource, Version: made, Keys: []storage.Key{made.Key}}, nil
}

// promoting marks the context of a promotion, whose move the hook records
// itself.
type promoting struct{}

// OnMove is the resources.AppointmentHook: a waitlist appointment that
// moves on (cancelled, booked by hand) leaves the list, a REMOVED event;
// a slot an appointment frees is offered to the best-placed entry waiting
// for it, which is booked into it, a PROMOTED event.
func (wl *Waitlist) OnMove(ctx context.Context, t *resources.Txn, m resources.AppointmentMove) error {
	if m.From == "waitlist" && ctx.Value(promoting{}) == nil {
		e, err := schedstore.In(t.Tx()).WaitingEntry(ctx, m.ID)
		if errors.Is(err, storage.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		score, inputs := wl.Weights.score(e, wl.now())
		if err := schedstore.In(t.Tx()).AddWaitlistEvent(ctx, schedstore.WaitlistEvent{Entry: e.ID, Kind: "REMOVED", Score: score, Inputs: inputs,
			Actor: "appointment", Reason: "moved to " + m.To}); err != nil {
			return err
		}
	}
	for _, slot := range m.Freed {
		if err := wl.offer(ctx, t, slot); err != nil {
			return err
		}
	}
	return nil
}

// offer books a freed slot for the best-placed entry waiting for it.
func (wl *Waitlist) offer(ctx context.Context, t *resources.Txn, slotID string) error {
	sv, err := t.Read(ctx, storage.Key{Type: "Slot", ID: slotID})
	if err != nil {
		return nil // capacity without a Slot: nothing to offer
	}
	var slot struct {
		Start, End  string
		Status      string
		Schedule    struct{ Reference string }
		ServiceType []struct {
			Coding []struct{ System, Code string }
		}
		Specialty []struct {
			Coding []struct{ System, Code string }
		}
	}
	if err := json.Unmarshal(sv.Resource, &slot); err != nil {
		return err
	}
	if start, err := time.Parse(time.RFC3339, slot.Start); err != nil || !start.After(wl.now()) {
		return nil // a slot already begun (a no-show's) is offered to nobody
	}
	// Read as stored, before the release: a full slot (busy) is free now;
	// one its owner blocked or withdrew stays so, and is offered to nobody.
	if slot.Status != "free" && slot.Status != "busy" {
		return nil
	}
	practitioner, err := wl.practitionerOf(ctx, t, slot.Schedule.Reference)
	if err != nil {
		return err
	}
	var visitTypes, specialties []string
	for _, st := range slot.ServiceType {
		for _, c := range st.Coding {
			if c.System == VisitTypeSystem {
				visitTypes = append(visitTypes, c.Code)
			}
		}
	}
	for _, sp := range slot.Specialty {
		for _, c := range sp.Coding {
			specialties = append(specialties, c.System+"|"+c.Code)
		}
	}
	candidates, err := schedstore.In(t.Tx()).WaitlistCandidates(ctx, practitioner, specialties, visitTypes)
	if err != nil || len(candidates) == 0 {
		return err
	}
	now := wl.now()
	best, bestScore, bestInputs := -1, 0.0, []byte(nil)
	for i, e := range candidates {
		if s, in := wl.Weights.score(e, now); best < 0 || s > bestScore {
			best, bestScore, bestInputs = i, s, in
		}
	}
	e := candidates[best]
	av, err := t.Read(ctx, storage.Key{Type: "Appointment", ID: e.Appointment})
	if err != nil {
		return err
	}
	var appt map[string]any
	if err := json.Unmarshal(av.Resource, &appt); err != nil {
		return err
	}
	delete(appt, "meta")
	appt["status"], appt["start"], appt["end"] = "booked", slot.Start, slot.End
	appt["slot"] = []any{map[string]any{"reference": "Slot/" + slotID}}
	if err := schedstore.In(t.Tx()).AddWaitlistEvent(ctx, schedstore.WaitlistEvent{Entry: e.ID, Kind: "PROMOTED", Slot: slotID, Score: bestScore, Inputs: bestInputs,
		Actor: "waitlist", Reason: fmt.Sprintf("the best of %d waiting", len(candidates))}); err != nil {
		return err
	}
	_, err = t.Put(context.WithValue(ctx, promoting{}, true), appt, true)
	return err
}

// practitionerOf is the Practitioner id a Schedule is for.
func (wl *Waitlist) practitionerOf(ctx context.Context, t *resources.Txn, ref string) (string, error) {
	id := strings.TrimPrefix(ref, "Schedule/")
	sv, err := t.Read(ctx, storage.Key{Type: "Schedule", ID: id})
	if err != nil {
		return "", nil
	}
	var s struct{ Actor []struct{ Reference string } }
	if err := json.Unmarshal(sv.Resource, &s); err != nil {
		return "", err
	}
	for _, a := range s.Actor {
		if p, ok := strings.CutPrefix(a.Reference, "Practitioner/"); ok {
			return p, nil
		}
	}
	return "", nil
}

func waitlistParams(body []byte) (schedstore.WaitlistEntry, error) {
	var p struct {
		ResourceType string `json:"resourceType"`
		Parameter    []struct {
			Name           string                        `json:"name"`
			ValueReference struct{ Reference string }    `json:"valueReference"`
			ValueCoding    struct{ System, Code string } `json:"valueCoding"`
			ValueCode      string                        `json:"valueCode"`
			ValueInteger   int                           `json:"valueInteger"`
			ValueDecimal   float64                       `json:"valueDecimal"`
		} `json:"parameter"`
	}
	var e schedstore.WaitlistEntry
	if err := json.Unmarshal(body, &p); err != nil || p.ResourceType != "Parameters" {
		return e, outcome.E(outcome.Invalid, "$waitlist takes a Parameters resource")
	}
	for _, q := range p.Parameter {
		switch q.Name {
		case "patient":
			e.Patient = strings.TrimPrefix(q.ValueReference.Reference, "Patient/")
		case "practitioner":
			e.Practitioner = strings.TrimPrefix(q.ValueReference.Reference, "Practitioner/")
		case "specialty":
			e.Specialty = q.ValueCoding.System + "|" + q.ValueCoding.Code
		case "visitType":
			e.VisitType = q.ValueCode
		case "urgency":
			e.Urgency = q.ValueInteger
		case "distanceKm":
			e.DistanceKm = q.ValueDecimal
		}
	}
	switch {
	case e.Patient == "" || strings.Contains(e.Patient, "/"):
		return e, outcome.E(outcome.Invalid, "$waitlist needs a patient (Patient/id)").At("patient")
	case e.Practitioner == "" && e.Specialty == "":
		return e, outcome.E(outcome.Invalid, "$waitlist needs a practitioner or a specialty").At("practitioner")
	case e.Urgency < 1 || e.Urgency > 5:
		return e, outcome.E(outcome.Invalid, "urgency is 1 (least) to 5 (most)").At("urgency")
	case e.DistanceKm < 0:
		return e, outcome.E(outcome.Invalid, "distanceKm must not be negative").At("distanceKm")
	}
	return e, nil
}
