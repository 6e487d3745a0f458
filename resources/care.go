package resources

import (
	"context"
	"slices"

	"github.com/fhirserver/fhirserver/outcome"
	"github.com/fhirserver/fhirserver/storage"
)

// The roles whose meaning is fixed in code, beyond what their permissions
// (data) allow on each type. They are exceptions to minimum necessary, so
// no permission row, and so no "*" grant, can hand them to another role.
const (
	// ClinicianRole may break the glass.
	ClinicianRole = "clinician"
	// RegistrationRole registers patients and schedules visits: it makes
	// care relationships for any patient, and its queries span patients
	// (its permissions start at demographics and scheduling alone).
	RegistrationRole = "registration"
	// adminRole may make care relationships too.
	adminRole = "admin"
)

// BreaksGlass reports whether users of role may break the glass, and so
// whether their break-glass events grant anything.
func BreaksGlass(role string) bool { return role == ClinicianRole }

// SpansPatients reports whether the queries of users of role are not held
// to care relationships: reviews and registration concern every patient.
func SpansPatients(role string) bool { return role == PrivacyOfficerRole || role == RegistrationRole }

// MayBreakGlass refuses break-glass to all but a signed-in clinician whose
// token reads patients at user level: a patient's own token, a backend
// service, another role, or a token held to the patient in context (or to
// some records) must not widen what the user sees.
func (c Caller) MayBreakGlass() error {
	switch {
	case c.User == "":
		return outcome.E(outcome.Forbidden, "break-glass is for a person signed in, not a backend service")
	case !BreaksGlass(c.Role):
		return outcome.E(outcome.Forbidden, "break-glass is a clinician's emergency act; the role %q may not break the glass", c.Role)
	case c.allow("Patient", Read) != nil || c.patient("Patient", Read) != "" || len(c.filters("Patient", Read)) > 0:
		return outcome.E(outcome.Forbidden, "break-glass takes a token with user-level scopes that read Patient (user/Patient.rs), not one held to a patient in context")
	}
	return nil
}

// careTypes are the types whose versions make care relationships (the
// Encounters, Appointments and CareTeams of migration 019's
// fhir_care_patients).
var careTypes = map[string]bool{"Encounter": true, "Appointment": true, "CareTeam": true}

// guardCare refuses a user a write that would make a care relationship
// to a patient the user cannot see: otherwise a clinician could grant
// themselves any record. Registration and admin make relationships for
// anyone; a clinician's own come from them, from patients already seen, or
// from break-glass (whose patients the user sees).
func (w *work) guardCare(ctx context.Context, k storage.Key, row storage.Row) error {
	c := w.caller
	if row.Deleted || !careTypes[k.Type] || c.Care == nil || c.Role == RegistrationRole || c.Role == adminRole {
		return nil
	}
	patients := row.Patients()
	if len(patients) == 0 {
		return nil
	}
	if !w.careRead {
		seen, err := w.tx.CarePatients(ctx)
		if err != nil {
			return err
		}
		w.care, w.careRead = seen, true
	}
	for _, p := range patients {
		if !slices.Contains(w.care, p) {
			return outcome.E(outcome.Forbidden,
				"this %s would make a care relationship with a patient outside the user's care; registration staff make those (or break the glass)", k.Type)
		}
	}
	return nil
}
