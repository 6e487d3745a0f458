package access

import "github.com/fhirserver/fhirserver/outcome"

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
	// AdminRole administers roles and clients, and may make care
	// relationships too.
	AdminRole = "admin"
	// PrivacyOfficerRole reviews break-glass accesses: its queries span
	// patients, its permissions allow Tasks alone.
	PrivacyOfficerRole = "privacy-officer"
	// AuditorRole reads the audit log.
	AuditorRole = "auditor"
)

// AuditEventType is the audit log's resource type: read-only to every
// caller, read only by auditors and backend services whose scopes name it.
const AuditEventType = "AuditEvent"

// BreaksGlass reports whether users of role may break the glass, and so
// whether their break-glass events grant anything.
func BreaksGlass(role string) bool { return role == ClinicianRole }

// SpansPatients reports whether the queries of users of role are not held
// to care relationships: reviews and registration concern every patient.
func SpansPatients(role string) bool { return role == PrivacyOfficerRole || role == RegistrationRole }

// MakesCareRelationships reports whether c may write the resources that
// make care relationships (Encounters, Appointments, CareTeams) for a
// patient it cannot see: registration and admin do; a clinician's own
// come from them, from patients already seen, or from break-glass.
func (c Caller) MakesCareRelationships() bool {
	return c.Care == nil || c.Role == RegistrationRole || c.Role == AdminRole
}

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
	}
	if d := c.Decide("Patient", Read); !d.Allowed || d.Limited() {
		return outcome.E(outcome.Forbidden, "break-glass takes a token with user-level scopes that read Patient (user/Patient.rs), not one held to a patient in context")
	}
	return nil
}

// AllowAudit refuses whoever may not read the audit log: a scope naming
// AuditEvent, unlimited, and for a user the auditor's role.
func (c Caller) AllowAudit(i Interaction) error {
	if err := c.AllowUnlimited(AuditEventType, i); err != nil {
		return err
	}
	if c.User != "" && c.Role != AuditorRole {
		return outcome.E(outcome.Forbidden, "only auditors read the audit log")
	}
	return nil
}
