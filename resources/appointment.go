package resources

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/fhirserver/fhirserver/outcome"
	"github.com/fhirserver/fhirserver/storage"
	schedstore "github.com/fhirserver/fhirserver/storage/scheduling"
)

// The appointment lifecycle: from each status, where it may go. An
// appointment is requested (proposed, pending, or waitlist), confirmed
// (booked), checked in (arrived or checked-in) and completed (fulfilled),
// or ends cancelled or as a no-show; entered-in-error corrects any.
var appointmentMoves = map[string][]string{
	// A new appointment may be recorded in any state: a walk-in has
	// arrived, a migrated one may be long fulfilled.
	"":           {"proposed", "pending", "waitlist", "booked", "arrived", "checked-in", "fulfilled", "cancelled", "noshow", "entered-in-error"},
	"proposed":   {"pending", "booked", "cancelled", "entered-in-error"},
	"pending":    {"booked", "cancelled", "entered-in-error"},
	"waitlist":   {"proposed", "pending", "booked", "cancelled", "entered-in-error"},
	"booked":     {"arrived", "checked-in", "cancelled", "noshow", "entered-in-error"},
	"arrived":    {"fulfilled", "entered-in-error"},
	"checked-in": {"fulfilled", "entered-in-error"},
	"fulfilled":  {"entered-in-error"},
	"cancelled":  {"entered-in-error"},
	"noshow":     {"entered-in-error"},
}

// holdsSlots are the statuses in which an appointment keeps its slots.
var holdsSlots = map[string]bool{"proposed": true, "pending": true, "booked": true, "arrived": true, "checked-in": true, "fulfilled": true}

// guardAppointment runs the lifecycle on every write of an Appointment: a
// move its current status does not allow is refused (409, naming the
// allowed ones); every move is an event (appointment_event); an
// appointment that comes to hold its slots books them, a unit of capacity
// each, under the slots' locks, and one that lets go of them (cancelled,
// noshow, entered-in-error) releases them; a Slot whose last unit is taken
// becomes busy, and free again when one is released.
func (w *work) guardAppointment(ctx context.Context, k storage.Key, obj map[string]any) error {
	from := ""
	if h := w.heads[k]; h.Version > 0 && !h.Deleted {
		prev, err := w.current(ctx, k)
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			return err
		}
		old, _ := decodeObject(prev)
		from, _ = old["status"].(string)
	}
	if obj == nil {
		if holdsSlots[from] {
			return outcome.E(outcome.Conflict, "a %s appointment is not deleted: cancel it (status cancelled) or mark it entered-in-error", from)
		}
		return nil
	}
	to, _ := obj["status"].(string)
	if to == from {
		return nil
	}
	if !slices.Contains(appointmentMoves[from], to) {
		return outcome.E(outcome.Conflict, "an appointment cannot go from %s to %s; from %s it may go to %s",
			orNew(from), to, orNew(from), strings.Join(appointmentMoves[from], ", ")).At("Appointment.status")
	}
	if err := schedstore.In(w.tx).AddAppointmentEvent(ctx, schedstore.AppointmentEvent{
		Appointment: k.ID, Actor: w.caller.Actor(), From: from, To: to, Reason: cancelReason(obj),
	}); err != nil {
		return err
	}
	var freed []string
	switch {
	case holdsSlots[to] && !holdsSlots[from]:
		if err := w.bookSlots(ctx, k.ID, obj); err != nil {
			return err
		}
	case !holdsSlots[to] && holdsSlots[from]:
		var err error
		if freed, err = w.releaseSlots(ctx, k.ID, to); err != nil {
			return err
		}
	}
	if h := w.svc.appointmentHook; h != nil {
		return h(ctx, &Txn{s: w.svc, w: w, caller: w.caller}, AppointmentMove{ID: k.ID, From: from, To: to, Appointment: obj, Freed: freed})
	}
	return nil
}

func orNew(status string) string {
	if status == "" {
		return "(new)"
	}
	return status
}

func cancelReason(obj map[string]any) string {
	if cr, ok := obj["cancelationReason"].(map[string]any); ok {
		if t, ok := cr["text"].(string); ok {
			return t
		}
		b, _ := json.Marshal(cr)
		return string(b)
	}
	return ""
}

// bookSlots takes a unit of each slot the appointment names.
func (w *work) bookSlots(ctx context.Context, appointment string, obj map[string]any) error {
	for i, ref := range slotRefs(obj) {
		use, err := schedstore.In(w.tx).BookSlot(ctx, ref, appointment)
		switch {
		case errors.Is(err, schedstore.ErrSlotFull):
			return outcome.E(outcome.Conflict, "Slot/%s is fully booked", ref).At(fmt.Sprintf("Appointment.slot[%d]", i))
		case errors.Is(err, storage.ErrNotFound):
			return outcome.E(outcome.Unprocessable, "Slot/%s is not a slot this server schedules", ref).At(fmt.Sprintf("Appointment.slot[%d]", i))
		case err != nil:
			return err
		}
		if use.Full {
			if err := w.setSlotStatus(ctx, ref, "free", "busy"); err != nil {
				return err
			}
		}
	}
	return nil
}

// releaseSlots gives back the units the appointment holds and returns the
// slots.
func (w *work) releaseSlots(ctx context.Context, appointment, reason string) ([]string, error) {
	slots, err := schedstore.In(w.tx).ReleaseAppointment(ctx, appointment, reason)
	if err != nil {
		return nil, err
	}
	for _, s := range slots {
		if err := w.setSlotStatus(ctx, s, "busy", "free"); err != nil {
			return nil, err
		}
	}
	return slots, nil
}

// setSlotStatus moves the slot from status from to status, writing its
// next version as the server: the booking that changes it was authorized
// already. Bookings move a slot only between free and busy; the other
// statuses are its owner's (a block, a withdrawal, an error), which no
// booking or release undoes.
func (w *work) setSlotStatus(ctx context.Context, id, from, status string) error {
	k := storage.Key{Type: "Slot", ID: id}
	h, err := w.head(ctx, k)
	if err != nil {
		return err
	}
	if h.Version == 0 || h.Deleted {
		return nil // capacity without a Slot resource: nothing to show
	}
	cur, err := w.current(ctx, k)
	if err != nil {
		return err
	}
	slot, err := decodeObject(cur)
	if err != nil {
		return err
	}
	if slot["status"] != from {
		return nil
	}
	slot["status"] = status
	delete(slot, "meta")
	_, err = asServerDo(w, func() (*storage.Version, error) { return w.write(ctx, k, "PUT", slot) })
	return err
}

// current is k's newest body: written earlier in this work, or stored.
func (w *work) current(ctx context.Context, k storage.Key) ([]byte, error) {
	for i := len(w.rows) - 1; i >= 0; i-- {
		if w.rows[i].Key == k {
			return w.rows[i].Resource, nil
		}
	}
	v, err := w.tx.Read(ctx, k)
	return v.Resource, err
}

// guardSlot gives a Slot created through the API its capacity (the
// slot-capacity extension, else 1), so that any slot can be booked; the
// ones availability makes have theirs already.
func (w *work) guardSlot(ctx context.Context, k storage.Key, obj map[string]any) error {
	if obj == nil {
		return nil
	}
	if h := w.heads[k]; h.Version > 0 && !h.Deleted {
		return nil
	}
	capacity := 1
	exts, _ := obj["extension"].([]any)
	for _, x := range exts {
		ext, _ := x.(map[string]any)
		if ext["url"] == SlotCapacityURL {
			if n, ok := ext["valueInteger"].(json.Number); ok {
				if v, err := n.Int64(); err == nil && v > 0 && v <= 1000 {
					capacity = int(v)
				}
			}
		}
	}
	return schedstore.In(w.tx).AddSlotUnits(ctx, k.ID, capacity)
}

// SlotCapacityURL is the extension that gives a Slot's capacity.
const SlotCapacityURL = "http://fhirserver.dev/fhir/StructureDefinition/slot-capacity"

// slotRefs are the ids of the Slots an appointment names (Slot/id, or a
// full URL ending so).
func slotRefs(obj map[string]any) []string {
	var out []string
	list, _ := obj["slot"].([]any)
	for _, s := range list {
		ref, _ := s.(map[string]any)["reference"].(string)
		if i := strings.LastIndex(ref, "Slot/"); i >= 0 {
			out = append(out, strings.TrimSuffix(ref[i+len("Slot/"):], "/"))
		}
	}
	return out
}
