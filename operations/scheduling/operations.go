package scheduling

import (
	"context"
	"net/http"

	"github.com/fhirserver/fhirserver/operations"
	"github.com/fhirserver/fhirserver/outcome"
	"github.com/fhirserver/fhirserver/resources"
	"github.com/fhirserver/fhirserver/resources/access"
	"github.com/fhirserver/fhirserver/storage"
)

// The scheduling operations, one value each, run by op; a nil op answers
// 501 to each.

// AvailabilityOperation is POST Practitioner/[id]/$availability (SetAvailability).
func AvailabilityOperation(op *Op) *operations.Operation {
	return &operations.Operation{
		Code: "availability", Types: []string{"Practitioner"}, Levels: operations.Instance,
		Input: operations.Body, AffectsState: true,
		Doc: "Replaces the practitioner's weekly availability and brings the slots of the horizon in line with it.",
		Who: "whoever may read the practitioner and write its Schedule and Slots (update, and create when new), as the write path checks them.",
		Params: []operations.Param{{Name: "timezone", Use: "in", Min: "1", Max: "1", Type: "string", Doc: "IANA time zone"}, {Name: "location", Use: "in", Min: "0", Max: "1", Type: "Reference", Doc: "where"},
			{Name: "rule", Use: "in", Min: "0", Max: "*", Doc: "a weekly window", Parts: []operations.Param{
				{Name: "weekday", Use: "in", Min: "1", Max: "1", Type: "integer", Doc: "0 Sunday to 6"}, {Name: "start", Use: "in", Min: "1", Max: "1", Type: "time"}, {Name: "end", Use: "in", Min: "1", Max: "1", Type: "time"},
				{Name: "slotMinutes", Use: "in", Min: "1", Max: "1", Type: "integer"}, {Name: "visitType", Use: "in", Min: "0", Max: "*", Type: "code"}, {Name: "maxConcurrent", Use: "in", Min: "0", Max: "1", Type: "integer"}}},
			{Name: "schedule", Use: "out", Min: "1", Max: "1", Type: "Reference", Doc: "the Schedule"}, {Name: "opened", Use: "out", Min: "1", Max: "1", Type: "integer", Doc: "slots made free"}, {Name: "withdrawn", Use: "out", Min: "1", Max: "1", Type: "integer", Doc: "slots withdrawn"}, {Name: "kept", Use: "out", Min: "1", Max: "1", Type: "integer", Doc: "slots left as they were"}},
		Handler: practitioner(op, (*Op).SetAvailability),
	}
}

// BlockOperation is POST Practitioner/[id]/$block.
func BlockOperation(op *Op) *operations.Operation {
	return &operations.Operation{
		Code: "block", Types: []string{"Practitioner"}, Levels: operations.Instance,
		Input: operations.Body, AffectsState: true,
		Doc: "Takes time off; the free slots it touches are withdrawn.",
		Who: "whoever may read the practitioner and update its Slots, as the write path checks them.",
		Params: []operations.Param{{Name: "start", Use: "in", Min: "1", Max: "1", Type: "dateTime"}, {Name: "end", Use: "in", Min: "1", Max: "1", Type: "dateTime"}, {Name: "reason", Use: "in", Min: "1", Max: "1", Type: "string"},
			{Name: "schedule", Use: "out", Min: "1", Max: "1", Type: "Reference"}, {Name: "opened", Use: "out", Min: "1", Max: "1", Type: "integer"}, {Name: "withdrawn", Use: "out", Min: "1", Max: "1", Type: "integer"}, {Name: "kept", Use: "out", Min: "1", Max: "1", Type: "integer"}},
		Handler: practitioner(op, (*Op).Block),
	}
}

// practitioner runs a change of the practitioner the path names.
func practitioner(op *Op, run func(op *Op, ctx context.Context, c access.Caller, practitioner string, body []byte) ([]byte, error)) func(context.Context, *operations.Request) (resources.Result, error) {
	return func(ctx context.Context, r *operations.Request) (resources.Result, error) {
		if op == nil {
			return resources.Result{}, errDisabled
		}
		out, err := run(op, ctx, r.Caller, r.ID, r.Body)
		return resources.Result{Status: http.StatusOK, Body: out, Keys: []storage.Key{{Type: "Practitioner", ID: r.ID}}}, err
	}
}

// FindOperation is GET or POST Appointment/$find.
func FindOperation(op *Op) *operations.Operation {
	return &operations.Operation{
		Code: "find", Types: []string{"Appointment"}, Levels: operations.Type,
		Methods: operations.Get | operations.Post, Input: operations.Form,
		Doc: "The free slots, earliest first.",
		Who: "whoever may search Slots: the search's scopes, a patient's reach and care relationships.",
		Params: []operations.Param{{Name: "practitioner", Use: "in", Min: "0", Max: "1", Type: "string"}, {Name: "visit-type", Use: "in", Min: "0", Max: "1", Type: "string", Doc: "code, or system|code"}, {Name: "specialty", Use: "in", Min: "0", Max: "1", Type: "string", Doc: "system|code"},
			{Name: "location", Use: "in", Min: "0", Max: "1", Type: "string"}, {Name: "start", Use: "in", Min: "0", Max: "1", Type: "dateTime"}, {Name: "end", Use: "in", Min: "0", Max: "1", Type: "dateTime"}, {Name: "return", Use: "out", Min: "1", Max: "1", Type: "Bundle", Doc: "Slots"}},
		Handler: func(ctx context.Context, r *operations.Request) (resources.Result, error) {
			if op == nil {
				return resources.Result{}, errDisabled
			}
			return op.Find(ctx, r.Caller, r.Query, r.Options)
		},
	}
}

// BookOperation is POST Appointment/$book.
func BookOperation(op *Op) *operations.Operation {
	return &operations.Operation{
		Code: "book", Types: []string{"Appointment"}, Levels: operations.Type,
		Input: operations.Body, AffectsState: true, Written: true,
		Doc:    "Books the slots an Appointment names, under their locks; 409 when another booking filled one first.",
		Who:    "whoever may read every Slot named, each free, and create the Appointment as the write path checks it (scope, role, care relationships).",
		Params: []operations.Param{{Name: "appointment", Use: "in", Min: "1", Max: "1", Type: "Appointment"}, {Name: "return", Use: "out", Min: "1", Max: "1", Type: "Appointment", Doc: "the booked Appointment"}},
		Handler: func(ctx context.Context, r *operations.Request) (resources.Result, error) {
			if op == nil {
				return resources.Result{}, errDisabled
			}
			return op.Book(ctx, r.Caller, r.Body, r.Options)
		},
	}
}

// EventsOperation is GET Appointment/[id]/$events (AppointmentEvents) and GET
// Appointment/$events (SearchEvents).
func EventsOperation(op *Op) *operations.Operation {
	return &operations.Operation{
		Code: "events", Types: []string{"Appointment"}, Levels: operations.Type | operations.Instance,
		Methods: operations.Get,
		Doc:     "Status changes of an appointment, or across appointments.",
		Who:     "for one appointment, whoever may read it; across appointments, callers whose reach is not limited (backend services, the registration role) that search Appointments.",
		Params: []operations.Param{{Name: "to", Use: "in", Min: "0", Max: "1", Type: "code"}, {Name: "actor", Use: "in", Min: "0", Max: "1", Type: "string"}, {Name: "since", Use: "in", Min: "0", Max: "1", Type: "instant"},
			{Name: "event", Use: "out", Min: "0", Max: "*", Doc: "one status change", Parts: []operations.Param{
				{Name: "at", Use: "out", Min: "1", Max: "1", Type: "instant"}, {Name: "actor", Use: "out", Min: "1", Max: "1", Type: "string"}, {Name: "from", Use: "out", Min: "0", Max: "1", Type: "code"},
				{Name: "to", Use: "out", Min: "1", Max: "1", Type: "code"}, {Name: "reason", Use: "out", Min: "0", Max: "1", Type: "string"}, {Name: "appointment", Use: "out", Min: "0", Max: "1", Type: "Reference"}}}},
		Handler: func(ctx context.Context, r *operations.Request) (resources.Result, error) {
			if op == nil {
				return resources.Result{}, errDisabled
			}
			if r.ID == "" {
				out, err := op.SearchEvents(ctx, r.Caller, r.Query)
				return resources.Result{Status: http.StatusOK, Body: out}, err
			}
			out, err := op.AppointmentEvents(ctx, r.Caller, r.ID)
			return resources.Result{Status: http.StatusOK, Body: out, Keys: []storage.Key{{Type: "Appointment", ID: r.ID}}}, err
		},
	}
}

// WaitlistOperation is POST Appointment/$waitlist.
func WaitlistOperation(op *Op) *operations.Operation {
	return &operations.Operation{
		Code: "waitlist", Types: []string{"Appointment"}, Levels: operations.Type,
		Input: operations.Body, AffectsState: true, Written: true,
		Doc: "Puts a patient on the waitlist.",
		Who: "whoever may create the waitlist Appointment, as the write path checks it.",
		Params: []operations.Param{{Name: "patient", Use: "in", Min: "1", Max: "1", Type: "Reference"}, {Name: "practitioner", Use: "in", Min: "0", Max: "1", Type: "Reference"}, {Name: "specialty", Use: "in", Min: "0", Max: "1", Type: "Coding"},
			{Name: "visitType", Use: "in", Min: "0", Max: "1", Type: "code"}, {Name: "urgency", Use: "in", Min: "1", Max: "1", Type: "integer", Doc: "1 to 5"}, {Name: "distanceKm", Use: "in", Min: "0", Max: "1", Type: "decimal"},
			{Name: "return", Use: "out", Min: "1", Max: "1", Type: "Appointment", Doc: "the waitlist Appointment"}},
		Handler: func(ctx context.Context, r *operations.Request) (resources.Result, error) {
			if op == nil {
				return resources.Result{}, errDisabled
			}
			return op.JoinWaitlist(ctx, r.Caller, r.Body)
		},
	}
}

var errDisabled = outcome.E(outcome.NotSupported, "scheduling is not enabled")
