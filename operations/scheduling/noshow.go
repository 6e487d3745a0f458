package scheduling

import (
	"context"
	"errors"
	"log/slog"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fhirserver/fhirserver/resources"
	"github.com/fhirserver/fhirserver/resources/access"
	"github.com/fhirserver/fhirserver/storage"
	schedstore "github.com/fhirserver/fhirserver/storage/scheduling"
)

// Policies reads the no-show policies in force.
type Policies interface {
	NoShowPolicies(ctx context.Context) (map[string]schedstore.NoShowPolicy, error)
}

// NoShows is the no-show job: a booked appointment whose patient has not
// arrived when its visit type's grace period after the start has passed
// is a no-show. The job records it (NO_SHOW_TRIGGERED, the patient's
// no-show log), applies the policy's action — CANCEL: the appointment
// becomes noshow and its slots are freed; CONVERT_TO_ASYNC: the same, and a
// Task asks the practitioner for an asynchronous follow-up; HOLD: nothing
// changes but the record — and, when the patient reaches ReviewAfter
// no-shows, asks the care coordinators for a review (a Task). Several
// server instances may run it at once: the database lets one act on each
// appointment (storage/scheduling's ClaimNoShow).
type NoShows struct {
	Res         *resources.Service
	Policies    Policies
	ReviewAfter int
	Log         *slog.Logger
	Now         func() time.Time
	// OnNoShow runs in the job's transaction for each appointment it acts
	// on (telehealth closes the session the patient never joined).
	OnNoShow func(ctx context.Context, t *resources.Txn, appointment string) error
}

// CoordinatorReviewCode tags the care-coordinator review Tasks.
const CoordinatorReviewCode = "noshow-review"

// jobCaller is the job's own authority.
var jobCaller = access.System("noshow-job")

// Run acts on the no-shows due now and returns how many it acted on.
func (n *NoShows) Run(ctx context.Context) (int, error) {
	ctx = storage.Unrestricted(ctx)
	policies, err := n.Policies.NoShowPolicies(ctx)
	if err != nil || len(policies) == 0 {
		return 0, err
	}
	now := n.now()
	shortest := -1
	for _, p := range policies {
		if shortest < 0 || p.GraceMinutes < shortest {
			shortest = p.GraceMinutes
		}
	}
	q := url.Values{"status": {"booked"}, "date": {"lt" + now.Add(-time.Duration(shortest)*time.Minute).UTC().Format(time.RFC3339)}, "_count": {"500"}}
	r, err := n.Res.Search(ctx, jobCaller, "Appointment", q, resources.Options{}, nil)
	if err != nil {
		return 0, err
	}
	appts, err := r.Resources()
	if err != nil {
		return 0, err
	}
	acted := 0
	for _, appt := range appts {
		done, err := n.handle(ctx, appt, policies, now)
		if err != nil {
			return acted, err
		}
		if done {
			acted++
		}
	}
	return acted, nil
}

func (n *NoShows) now() time.Time {
	if n.Now != nil {
		return n.Now()
	}
	return time.Now()
}

// handle acts on one appointment if its grace period has passed.
func (n *NoShows) handle(ctx context.Context, appt map[string]any, policies map[string]schedstore.NoShowPolicy, now time.Time) (bool, error) {
	visit := visitType(appt)
	p, ok := policies[visit]
	if !ok {
		return false, nil
	}
	start, err := time.Parse(time.RFC3339, str(appt["start"]))
	if err != nil || now.Before(start.Add(time.Duration(p.GraceMinutes)*time.Minute)) {
		return false, nil
	}
	id, patient := str(appt["id"]), patientOf(appt)
	err = n.Res.Transact(ctx, jobCaller, func(t *resources.Txn) error {
		count, err := schedstore.In(t.Tx()).ClaimNoShow(ctx, id, patient, visit, p.Action)
		if err != nil {
			return err
		}
		if err := schedstore.In(t.Tx()).AddAppointmentEvent(ctx, schedstore.AppointmentEvent{Appointment: id, Actor: "noshow-job", From: "booked", To: "NO_SHOW_TRIGGERED",
			Reason: "grace " + strconv.Itoa(p.GraceMinutes) + " min passed, action " + p.Action}); err != nil {
			return err
		}
		if p.Action != "HOLD" {
			next := cloneWithout(appt, "meta")
			next["status"] = "noshow"
			if _, err := t.Put(ctx, next, true); err != nil {
				return err
			}
		}
		if n.OnNoShow != nil {
			if err := n.OnNoShow(ctx, t, id); err != nil {
				return err
			}
		}
		if p.Action == "CONVERT_TO_ASYNC" {
			if _, err := t.Create(ctx, task(appt, patient, "async-follow-up", "Asynchronous follow-up of a missed appointment", now)); err != nil {
				return err
			}
		}
		if n.ReviewAfter > 0 && count == n.ReviewAfter && patient != "" {
			if _, err := t.Create(ctx, task(appt, patient, CoordinatorReviewCode, "Review: the patient has missed "+strconv.Itoa(count)+" appointments", now)); err != nil {
				return err
			}
		}
		return nil
	})
	if errors.Is(err, schedstore.ErrHandled) {
		return false, nil // another instance acted on it
	}
	return err == nil, err
}

// task is a Task about a missed appointment.
func task(appt map[string]any, patient, code, text string, now time.Time) map[string]any {
	t := map[string]any{"resourceType": "Task", "status": "requested", "intent": "order", "priority": "routine",
		"code":        map[string]any{"coding": []any{map[string]any{"system": VisitTypeSystem + "-task", "code": code}}, "text": text},
		"focus":       map[string]any{"reference": "Appointment/" + str(appt["id"])},
		"authoredOn":  now.UTC().Format(time.RFC3339),
		"description": text}
	if patient != "" {
		t["for"] = map[string]any{"reference": "Patient/" + patient}
	}
	return t
}

// visitType is the appointment's visit type: its serviceType or
// appointmentType code of VisitTypeSystem, else "" (the default policy's).
func visitType(appt map[string]any) string {
	var concepts []any
	if st, ok := appt["serviceType"].([]any); ok {
		concepts = append(concepts, st...)
	}
	if at, ok := appt["appointmentType"]; ok {
		concepts = append(concepts, at)
	}
	for _, c := range concepts {
		cm, _ := c.(map[string]any)
		codings, _ := cm["coding"].([]any)
		for _, x := range codings {
			coding, _ := x.(map[string]any)
			if coding["system"] == VisitTypeSystem {
				return str(coding["code"])
			}
		}
	}
	return ""
}

// patientOf is the id of the appointment's patient participant.
func patientOf(appt map[string]any) string {
	parts, _ := appt["participant"].([]any)
	for _, p := range parts {
		pm, _ := p.(map[string]any)
		actor, _ := pm["actor"].(map[string]any)
		if ref := str(actor["reference"]); strings.HasPrefix(ref, "Patient/") {
			return strings.TrimPrefix(ref, "Patient/")
		}
	}
	return ""
}

func cloneWithout(m map[string]any, drop ...string) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		if !slices.Contains(drop, k) {
			out[k] = v
		}
	}
	return out
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

// Every runs the job every interval until ctx ends, logging failures.
func (n *NoShows) Every(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if acted, err := n.Run(ctx); err != nil && ctx.Err() == nil {
				n.Log.Error("no-show job", "err", err)
			} else if acted > 0 {
				n.Log.Info("no-show job", "acted", acted)
			}
		}
	}
}
