package telehealth

import (
	"context"
	"log/slog"
)

// LogNotifier tells clinicians through the server's log (ids only, never
// PHI): the adapter in force until a pager or an EHR inbox is plugged in.
type LogNotifier struct{ Log *slog.Logger }

// PatientWaiting logs that a patient waits for practitioner.
func (n LogNotifier) PatientWaiting(_ context.Context, practitioner, encounter string, position int) error {
	n.Log.Info("patient waiting", "practitioner", practitioner, "encounter", encounter, "position", position)
	return nil
}
