package scheduling

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/fhirserver/fhirserver/outcome"
	"github.com/fhirserver/fhirserver/resources"
	"github.com/fhirserver/fhirserver/resources/access"
	"github.com/fhirserver/fhirserver/storage"
	schedstore "github.com/fhirserver/fhirserver/storage/scheduling"
)

// Canonical URLs this server defines for scheduling.
const (
	VisitTypeSystem = "http://fhirserver.dev/fhir/CodeSystem/visit-type"
	CapacityURL     = resources.SlotCapacityURL
)

// Events reads appointments' status changes.
type Events interface {
	AppointmentEvents(ctx context.Context, appointment string) ([]schedstore.AppointmentEventRow, error)
	FindAppointmentEvents(ctx context.Context, q schedstore.AppointmentEventQuery) ([]schedstore.FoundAppointmentEvent, error)
}

// Store is what the operations read besides resources: status changes,
// and the Schedules that $find's actors have.
type Store interface {
	Events
	SchedulesWithActors(ctx context.Context, actors []string) ([]string, error)
}

// Op serves the scheduling operations.
type Op struct {
	res      *resources.Service
	store    Store
	horizon  int // days of slots kept ahead
	now      func() time.Time
	Waitlist *Waitlist
}

// New serves scheduling over res, keeping horizon days of slots ahead, and
// hooks the waitlist into res's appointment moves, so that a freed slot is
// offered to whoever waits for it.
func New(res *resources.Service, store Store, horizon int) *Op {
	op := &Op{res: res, store: store, horizon: horizon, now: time.Now, Waitlist: &Waitlist{Res: res, Weights: DefaultWeights}}
	res.SetAppointmentHook(op.Waitlist.OnMove)
	return op
}

// eventPart is one status change as a Parameters part.
func eventPart(e schedstore.AppointmentEventRow, appointment string) map[string]any {
	parts := []map[string]any{
		{"name": "at", "valueInstant": e.At.UTC().Format(time.RFC3339Nano)},
		{"name": "actor", "valueString": e.Actor},
		{"name": "to", "valueCode": e.To},
	}
	if appointment != "" {
		parts = append(parts, map[string]any{"name": "appointment", "valueReference": map[string]any{"reference": "Appointment/" + appointment}})
	}
	if e.From != "" {
		parts = append(parts, map[string]any{"name": "from", "valueCode": e.From})
	}
	if e.Reason != "" {
		parts = append(parts, map[string]any{"name": "reason", "valueString": e.Reason})
	}
	return map[string]any{"name": "event", "part": parts}
}

// SearchEvents is GET Appointment/$events: status changes across
// appointments, oldest first, by to (the status moved to, or
// NO_SHOW_TRIGGERED), actor and since (an instant), _count (default 100),
// for callers whose reach is not limited (the events are kept outside the
// resources that row-level security filters).
func (op *Op) SearchEvents(ctx context.Context, c access.Caller, q url.Values) ([]byte, error) {
	if err := c.MaySearchAll("Appointment"); err != nil {
		return nil, err
	}
	eq := schedstore.AppointmentEventQuery{To: q.Get("to"), Actor: q.Get("actor"), Limit: 100}
	if v := q.Get("since"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return nil, outcome.E(outcome.Invalid, "since is an instant, such as 2026-11-28T09:00:00Z").At("since")
		}
		eq.Since = t
	}
	if v := q.Get("_count"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return nil, outcome.E(outcome.Invalid, "_count is 1 to 1000").At("_count")
		}
		eq.Limit = n
	}
	for name := range q {
		switch name {
		case "to", "actor", "since", "_count":
		default:
			return nil, outcome.E(outcome.Invalid, "$events takes to, actor, since and _count, not %s", name).At(name)
		}
	}
	found, err := op.store.FindAppointmentEvents(ctx, eq)
	if err != nil {
		return nil, err
	}
	params := []map[string]any{}
	for _, e := range found {
		params = append(params, eventPart(e.AppointmentEventRow, e.Appointment))
	}
	return json.Marshal(map[string]any{"resourceType": "Parameters", "parameter": params})
}

// JoinWaitlist is Appointment/$waitlist (Waitlist.Join).
func (op *Op) JoinWaitlist(ctx context.Context, c access.Caller, body []byte) (resources.Result, error) {
	return op.Waitlist.Join(ctx, c, body)
}

// AppointmentEvents is GET Appointment/[id]/$events: the appointment's
// status changes, oldest first, as a Parameters with one event part each
// (at, actor, from, to, reason), for whoever may read the appointment.
func (op *Op) AppointmentEvents(ctx context.Context, c access.Caller, id string) ([]byte, error) {
	if _, err := op.res.Read(ctx, c, storage.Key{Type: "Appointment", ID: id}); err != nil {
		return nil, err
	}
	events, err := op.store.AppointmentEvents(storage.Unrestricted(ctx), id)
	if err != nil {
		return nil, err
	}
	params := []map[string]any{}
	for _, e := range events {
		params = append(params, eventPart(e, ""))
	}
	return json.Marshal(map[string]any{"resourceType": "Parameters", "parameter": params})
}

// ScheduleID and SlotID name a practitioner's Schedule and the slot that
// starts at start: the same slot whenever availability is materialized.
func ScheduleID(practitioner string) string { return "sch-" + hash16(practitioner) }

func SlotID(practitioner string, start time.Time) string {
	return slotPrefix(practitioner) + strconv.FormatInt(start.Unix(), 10)
}

func slotPrefix(practitioner string) string { return "s-" + hash16(practitioner) + "-" }

func hash16(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:8])
}

// SetAvailability is POST Practitioner/[id]/$availability: a Parameters
// with timezone (valueString, IANA) and one rule part per weekly window
// (parts weekday valueInteger 0-6, start and end valueTime, slotMinutes
// valueInteger, visitType valueCode, repeated, maxConcurrent
// valueInteger), and location (valueReference Location/id) if any. It
// replaces the pattern in force and brings the slots of the horizon in
// line with it, booked ones untouched.
func (op *Op) SetAvailability(ctx context.Context, c access.Caller, practitioner string, body []byte) ([]byte, error) {
	tz, location, rules, err := availabilityParams(body)
	if err != nil {
		return nil, err
	}
	if err := (Availability{TZ: tz, Rules: rules}).Validate(); err != nil {
		return nil, outcome.E(outcome.Invalid, "%s", strings.TrimPrefix(err.Error(), "scheduling: "))
	}
	encoded, err := json.Marshal(rules)
	if err != nil {
		return nil, err
	}
	return op.change(ctx, c, practitioner, func(t *resources.Txn) error {
		return schedstore.In(t.Tx()).AddAvailability(ctx, practitioner, tz, location, encoded, actor(c))
	})
}

// Block is POST Practitioner/[id]/$block: start and end (valueDateTime),
// reason (valueString); the free slots it touches are withdrawn.
func (op *Op) Block(ctx context.Context, c access.Caller, practitioner string, body []byte) ([]byte, error) {
	b, err := blockParams(body)
	if err != nil {
		return nil, err
	}
	return op.change(ctx, c, practitioner, func(t *resources.Txn) error {
		return schedstore.In(t.Tx()).AddBlock(ctx, practitioner, b, actor(c))
	})
}

// change records a change of availability and materializes the slots, in
// one transaction, and answers with what it did.
func (op *Op) change(ctx context.Context, c access.Caller, practitioner string, record func(t *resources.Txn) error) ([]byte, error) {
	if _, err := op.res.Read(ctx, c, storage.Key{Type: "Practitioner", ID: practitioner}); err != nil {
		return nil, err
	}
	var s summary
	err := op.res.Transact(ctx, c, func(t *resources.Txn) error {
		if err := record(t); err != nil {
			return err
		}
		var err error
		s, err = op.sync(ctx, t, practitioner)
		return err
	})
	if err != nil {
		return nil, err
	}
	return json.Marshal(map[string]any{"resourceType": "Parameters", "parameter": []map[string]any{
		{"name": "schedule", "valueReference": map[string]string{"reference": "Schedule/" + ScheduleID(practitioner)}},
		{"name": "opened", "valueInteger": s.opened},
		{"name": "withdrawn", "valueInteger": s.withdrawn},
		{"name": "kept", "valueInteger": s.kept},
	}})
}

type summary struct{ opened, withdrawn, kept int }

// sync makes the practitioner's Schedule and Slots of the horizon match the
// availability in force: a slot it gives is free (made so if it was
// withdrawn and nobody holds it), a free slot it no longer gives is
// withdrawn (busy-unavailable); a slot with a booking is left as it is.
func (op *Op) sync(ctx context.Context, t *resources.Txn, practitioner string) (summary, error) {
	var s summary
	from := op.now().UTC()
	until := from.AddDate(0, 0, op.horizon+1)
	tz, location, raw, err := schedstore.In(t.Tx()).Availability(ctx, practitioner)
	if errors.Is(err, storage.ErrNotFound) {
		tz, raw = "UTC", []byte("[]")
	} else if err != nil {
		return s, err
	}
	var rules []Rule
	if err := json.Unmarshal(raw, &rules); err != nil {
		return s, err
	}
	blocks, err := schedstore.In(t.Tx()).Blocks(ctx, practitioner, from)
	if err != nil {
		return s, err
	}
	var overrides []Override
	for _, b := range blocks {
		overrides = append(overrides, Override{Start: b.Start, End: b.End, Reason: b.Reason})
	}
	specs, err := Materialize(Availability{Practitioner: practitioner, TZ: tz, Rules: rules}, overrides, from, op.horizon)
	if err != nil {
		return s, err
	}
	actors := []any{map[string]any{"reference": "Practitioner/" + practitioner}}
	if location != "" {
		actors = append(actors, map[string]any{"reference": "Location/" + location})
	}
	schedule := map[string]any{"resourceType": "Schedule", "id": ScheduleID(practitioner), "active": true,
		"actor":           actors,
		"planningHorizon": map[string]any{"start": from.Format(time.RFC3339), "end": until.Format(time.RFC3339)}}
	if _, err := t.Put(ctx, schedule, false); err != nil {
		return s, err
	}
	existing, err := schedstore.In(t.Tx()).SlotsWithPrefix(ctx, slotPrefix(practitioner))
	if err != nil {
		return s, err
	}
	wanted := map[string]bool{}
	for _, spec := range specs {
		id := SlotID(practitioner, spec.Start)
		wanted[id] = true
		if err := schedstore.In(t.Tx()).AddSlotUnits(ctx, id, spec.Capacity); err != nil {
			return s, err
		}
		st, had := existing[id]
		if had && st.Free < st.Units {
			s.kept++
			continue
		}
		changed, err := op.putSlot(ctx, t, practitioner, id, spec, "free")
		if err != nil {
			return s, err
		}
		if changed {
			s.opened++
		} else {
			s.kept++
		}
	}
	for id := range existing {
		start, ok := slotStart(practitioner, id)
		if wanted[id] || !ok || start.Before(from) || !start.Before(until) {
			continue
		}
		st, err := schedstore.In(t.Tx()).LockSlot(ctx, id)
		if err != nil {
			return s, err
		}
		if st.Free < st.Units {
			s.kept++ // booked: the appointment stands
			continue
		}
		if changed, err := op.withdraw(ctx, t, id); err != nil {
			return s, err
		} else if changed {
			s.withdrawn++
		}
	}
	return s, nil
}

// putSlot writes a slot as spec says with status, unless it is so already.
func (op *Op) putSlot(ctx context.Context, t *resources.Txn, practitioner, id string, spec SlotSpec, status string) (bool, error) {
	slot := map[string]any{"resourceType": "Slot", "id": id, "status": status,
		"schedule": map[string]any{"reference": "Schedule/" + ScheduleID(practitioner)},
		"start":    spec.Start.Format(time.RFC3339), "end": spec.End.Format(time.RFC3339),
		"extension": []any{map[string]any{"url": CapacityURL, "valueInteger": spec.Capacity}}}
	if len(spec.VisitTypes) > 0 {
		var codings []any
		for _, vt := range spec.VisitTypes {
			codings = append(codings, map[string]any{"system": VisitTypeSystem, "code": vt})
		}
		slot["serviceType"] = []any{map[string]any{"coding": codings}}
	}
	if cur, err := t.Read(ctx, storage.Key{Type: "Slot", ID: id}); err == nil && sameSlot(cur.Resource, slot) {
		return false, nil
	}
	_, err := t.Put(ctx, slot, false)
	return err == nil, err
}

// withdraw marks a free slot busy-unavailable.
func (op *Op) withdraw(ctx context.Context, t *resources.Txn, id string) (bool, error) {
	cur, err := t.Read(ctx, storage.Key{Type: "Slot", ID: id})
	if err != nil {
		return false, nil // capacity without a resource: nothing shows it
	}
	var slot map[string]any
	if err := json.Unmarshal(cur.Resource, &slot); err != nil {
		return false, err
	}
	if slot["status"] != "free" {
		return false, nil
	}
	slot["status"] = "busy-unavailable"
	delete(slot, "meta")
	_, err = t.Put(ctx, slot, false)
	return err == nil, err
}

// sameSlot reports whether the stored slot already says what slot does.
func sameSlot(stored []byte, slot map[string]any) bool {
	var cur, want map[string]any
	b, err := json.Marshal(slot)
	if err != nil || json.Unmarshal(stored, &cur) != nil || json.Unmarshal(b, &want) != nil {
		return false
	}
	delete(cur, "meta")
	return reflect.DeepEqual(cur, want)
}

// slotStart reads a slot's start back from its id.
func slotStart(practitioner, id string) (time.Time, bool) {
	n, err := strconv.ParseInt(strings.TrimPrefix(id, slotPrefix(practitioner)), 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	return time.Unix(n, 0).UTC(), true
}

func actor(c access.Caller) string {
	if c.User != "" {
		return "user:" + c.User
	}
	return "client:" + c.ID
}

// Find is Appointment/$find: the free slots, earliest first, whose
// Schedule has the practitioner (practitioner) and the location (location)
// among its actors, of a visit type (visit-type, a token on the Slot's
// serviceType), a specialty (specialty, token), from start to end (dates
// or instants; default: the horizon), whether availability derived them
// or a client created them. It answers the Slot search it makes.
func (op *Op) Find(ctx context.Context, c access.Caller, q url.Values, o resources.Options) (resources.Result, error) {
	search := url.Values{"status": {"free"}, "_sort": {"start"}}
	from := op.now().UTC().Format(time.RFC3339)
	if v := q.Get("start"); v != "" {
		from = v
	}
	search.Add("start", "ge"+from)
	if v := q.Get("end"); v != "" {
		search.Add("start", "lt"+v)
	}
	if err := op.bySchedules(ctx, q, search); err != nil {
		return resources.Result{}, err
	}
	// A bare code matches in any system, as a token does: a client's Slot
	// names its visit types in its own system.
	if v := q.Get("visit-type"); v != "" {
		search.Set("service-type", v)
	}
	if v := q.Get("specialty"); v != "" {
		search.Set("specialty", v)
	}
	if v := q.Get("_count"); v != "" {
		search.Set("_count", v)
	}
	for name := range q {
		switch name {
		case "practitioner", "visit-type", "specialty", "location", "start", "end", "_count":
		default:
			return resources.Result{}, outcome.E(outcome.Invalid, "$find takes practitioner, visit-type, specialty, location, start, end and _count, not %s", name).At(name)
		}
	}
	return op.res.Search(ctx, c, "Slot", search, o, nil)
}

// bySchedules narrows search to the slots of the Schedules that have
// $find's practitioner and location among their actors: a client's own
// Schedules too, and one whose actors changed, not only the one
// availability makes.
func (op *Op) bySchedules(ctx context.Context, q url.Values, search url.Values) error {
	var actors []string
	if v := q.Get("practitioner"); v != "" {
		actors = append(actors, "Practitioner/"+strings.TrimPrefix(v, "Practitioner/"))
	}
	if v := q.Get("location"); v != "" {
		actors = append(actors, "Location/"+strings.TrimPrefix(v, "Location/"))
	}
	if len(actors) == 0 {
		return nil
	}
	ids, err := op.store.SchedulesWithActors(ctx, actors)
	if err != nil {
		return err
	}
	if len(ids) == 0 {
		search.Set("_id", "") // no Schedule, no slot: an empty searchset
		return nil
	}
	refs := make([]string, len(ids))
	for i, id := range ids {
		refs[i] = "Schedule/" + id
	}
	search.Set("schedule", strings.Join(refs, ","))
	return nil
}

// Book is Appointment/$book: the Parameters' appointment part is the
// Appointment, naming its slot(s) in Appointment.slot (Argonaut
// Scheduling), each of which must be free. It is created as any
// Appointment is (booked unless it says otherwise), which books its slots
// under their locks: a slot that another booking filled first answers 409.
func (op *Op) Book(ctx context.Context, c access.Caller, body []byte, o resources.Options) (resources.Result, error) {
	var p struct {
		ResourceType string `json:"resourceType"`
		Parameter    []struct {
			Name     string         `json:"name"`
			Resource map[string]any `json:"resource"`
		} `json:"parameter"`
	}
	if err := json.Unmarshal(body, &p); err != nil || p.ResourceType != "Parameters" {
		return resources.Result{}, outcome.E(outcome.Invalid, "$book takes a Parameters resource")
	}
	var appt map[string]any
	for _, part := range p.Parameter {
		if part.Name == "appointment" {
			appt = part.Resource
		}
	}
	if appt == nil || appt["resourceType"] != "Appointment" {
		return resources.Result{}, outcome.E(outcome.Invalid, "$book needs an appointment part holding an Appointment").At("Parameters.parameter")
	}
	if s, _ := appt["slot"].([]any); len(s) == 0 {
		return resources.Result{}, outcome.E(outcome.Invalid, "the Appointment names no slot").At("Appointment.slot")
	}
	if _, ok := appt["status"]; !ok {
		appt["status"] = "booked"
	}
	if err := op.bookable(ctx, c, appt); err != nil {
		return resources.Result{}, err
	}
	raw, err := json.Marshal(appt)
	if err != nil {
		return resources.Result{}, err
	}
	return op.res.Create(ctx, c, "Appointment", raw, o)
}

// bookable checks that every slot the appointment names is free, as the
// caller may read it: a slot its owner marked busy, busy-unavailable or
// entered-in-error is not offered, whatever units it has left. An
// appointment without start and end gets those of its slots: a booked
// appointment has them (app-3).
func (op *Op) bookable(ctx context.Context, c access.Caller, appt map[string]any) error {
	var start, end string
	for i, s := range appt["slot"].([]any) {
		ref, _ := s.(map[string]any)["reference"].(string)
		id := ref[strings.LastIndex(ref, "/")+1:]
		at := fmt.Sprintf("Appointment.slot[%d]", i)
		r, err := op.res.Read(ctx, c, storage.Key{Type: "Slot", ID: id})
		if err != nil {
			return outcome.E(outcome.Unprocessable, "%s is not a slot that can be read", ref).At(at)
		}
		var slot struct{ Start, End, Status string }
		if err := json.Unmarshal(r.Body, &slot); err != nil {
			return err
		}
		if slot.Status != "free" {
			return outcome.E(outcome.Conflict, "Slot/%s is %s, not free", id, slot.Status).At(at)
		}
		if start == "" || slot.Start < start {
			start = slot.Start
		}
		if slot.End > end {
			end = slot.End
		}
	}
	if appt["start"] == nil || appt["end"] == nil {
		appt["start"], appt["end"] = start, end
	}
	return nil
}

// availabilityParams reads $availability's Parameters.
func availabilityParams(body []byte) (string, string, []Rule, error) {
	parts, err := parameters(body)
	if err != nil {
		return "", "", nil, err
	}
	tz, location := "", ""
	var rules []Rule
	for _, p := range parts {
		switch p.Name {
		case "timezone":
			tz = p.ValueString + p.ValueCode
		case "location":
			location = strings.TrimPrefix(p.ValueReference.Reference, "Location/")
		case "rule":
			var r Rule
			for _, q := range p.Part {
				switch q.Name {
				case "weekday":
					r.Weekday = time.Weekday(q.ValueInteger)
				case "start":
					r.Start = q.ValueTime
				case "end":
					r.End = q.ValueTime
				case "slotMinutes":
					r.SlotMinutes = q.ValueInteger
				case "visitType":
					r.VisitTypes = append(r.VisitTypes, q.ValueCode)
				case "maxConcurrent":
					r.MaxConcurrent = q.ValueInteger
				}
			}
			rules = append(rules, r)
		}
	}
	if tz == "" {
		return "", "", nil, outcome.E(outcome.Invalid, "$availability needs a timezone (IANA, such as America/New_York)").At("timezone")
	}
	return tz, location, rules, nil
}

func blockParams(body []byte) (schedstore.Block, error) {
	parts, err := parameters(body)
	if err != nil {
		return schedstore.Block{}, err
	}
	var b schedstore.Block
	for _, p := range parts {
		switch p.Name {
		case "start", "end":
			t, err := time.Parse(time.RFC3339, p.ValueDateTime)
			if err != nil {
				return b, outcome.E(outcome.Invalid, "%s must be a dateTime with a time zone", p.Name).At(p.Name)
			}
			if p.Name == "start" {
				b.Start = t
			} else {
				b.End = t
			}
		case "reason":
			b.Reason = p.ValueString
		}
	}
	if b.Start.IsZero() || b.End.IsZero() || !b.End.After(b.Start) || strings.TrimSpace(b.Reason) == "" {
		return b, outcome.E(outcome.Invalid, "$block needs start, a later end, and a reason")
	}
	return b, nil
}

type part struct {
	Name           string `json:"name"`
	ValueReference struct {
		Reference string `json:"reference"`
	} `json:"valueReference"`
	ValueString   string `json:"valueString"`
	ValueCode     string `json:"valueCode"`
	ValueTime     string `json:"valueTime"`
	ValueDateTime string `json:"valueDateTime"`
	ValueInteger  int    `json:"valueInteger"`
	Part          []part `json:"part"`
}

func parameters(body []byte) ([]part, error) {
	var p struct {
		ResourceType string `json:"resourceType"`
		Parameter    []part `json:"parameter"`
	}
	if err := json.Unmarshal(body, &p); err != nil || p.ResourceType != "Parameters" {
		return nil, outcome.E(outcome.Invalid, "the body must be a Parameters resource")
	}
	return p.Parameter, nil
}
