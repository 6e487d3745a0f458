package resources

import (
	"context"
	"slices"

	"github.com/fhirserver/fhirserver/outcome"
	"github.com/fhirserver/fhirserver/storage"
)

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
	if row.Deleted || !careTypes[k.Type] || c.MakesCareRelationships() {
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
