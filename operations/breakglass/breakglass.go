package breakglass

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/fhirserver/fhirserver/outcome"
	"github.com/fhirserver/fhirserver/resources"
	"github.com/fhirserver/fhirserver/resources/access"
	"github.com/fhirserver/fhirserver/storage"
)

// Op runs the operation.
type Op struct {
	res          *resources.Service
	lasts        time.Duration // how long the access lasts
	reviewWithin time.Duration // when the review is due
	now          func() time.Time
}

// New makes the operation: access for lasts, a review due within reviewWithin.
func New(res *resources.Service, lasts, reviewWithin time.Duration) *Op {
	return &Op{res: res, lasts: lasts, reviewWithin: reviewWithin, now: time.Now}
}

// system is the server's own authority for the review Task.
var system = access.System(resources.BreakGlassCaller)

// Run breaks the glass for caller on patient with the Parameters in body.
func (op *Op) Run(ctx context.Context, caller access.Caller, patient string, body []byte) ([]byte, error) {
	if err := caller.MayBreakGlass(); err != nil {
		return nil, err
	}
	justification, purpose, err := params(body)
	if err != nil {
		return nil, err
	}
	unrestricted := storage.Unrestricted(ctx)
	if _, err := op.res.Read(unrestricted, system, storage.Key{Type: "Patient", ID: patient}); err != nil {
		return nil, err
	}
	now := op.now().UTC()
	expires, due := now.Add(op.lasts), now.Add(op.reviewWithin)
	var taskID string
	// The event, its review Task and the write's audit record commit
	// together, before anything is seen under the event.
	err = op.res.Transact(unrestricted, system, func(t *resources.Txn) error {
		created, err := t.Create(unrestricted, reviewTask(caller, patient, justification, purpose, now, due))
		if err != nil {
			return err
		}
		taskID = created.ID
		_, err = t.Tx().PutBreakGlass(unrestricted, storage.BreakGlass{Username: caller.User, FHIRUser: caller.FHIRUser, Patient: patient,
			Justification: justification, Purpose: purpose, Expires: expires, ReviewTask: taskID})
		return err
	})
	if err != nil {
		return nil, err
	}
	return json.Marshal(map[string]any{
		"resourceType": "Parameters",
		"parameter": []map[string]any{
			{"name": "patient", "valueReference": map[string]string{"reference": "Patient/" + patient}},
			{"name": "expires", "valueInstant": expires.Format(time.RFC3339)},
			{"name": "review", "valueReference": map[string]string{"reference": "Task/" + taskID}},
		},
	})
}

// params reads justification (a string, required, at least 20 characters
// and three words) and purpose (a code, required) from a Parameters body.
func params(body []byte) (justification, purpose string, err error) {
	var p struct {
		ResourceType string `json:"resourceType"`
		Parameter    []struct {
			Name        string `json:"name"`
			ValueString string `json:"valueString"`
			ValueCode   string `json:"valueCode"`
			ValueCoding struct {
				Code string `json:"code"`
			} `json:"valueCoding"`
		} `json:"parameter"`
	}
	if json.Unmarshal(body, &p) != nil || p.ResourceType != "Parameters" {
		return "", "", outcome.E(outcome.Invalid, "$break-glass takes a Parameters resource with justification and purpose")
	}
	for _, x := range p.Parameter {
		switch x.Name {
		case "justification":
			justification = strings.TrimSpace(x.ValueString)
		case "purpose":
			purpose = x.ValueCode
			if purpose == "" {
				purpose = x.ValueCoding.Code
			}
		}
	}
	if err := nonTrivial(justification); err != nil {
		return "", "", outcome.E(outcome.Invalid, "justification: %v", err).At("Parameters.parameter.justification")
	}
	if purpose == "" {
		return "", "", outcome.E(outcome.Invalid, "purpose: a code for why (e.g. ETREAT, emergency treatment) is required").At("Parameters.parameter.purpose")
	}
	return justification, purpose, nil
}

func nonTrivial(s string) error {
	words := strings.Fields(s)
	distinct := map[rune]bool{}
	for _, r := range strings.ToLower(s) {
		distinct[r] = true
	}
	if len(s) < 20 || len(words) < 3 || len(distinct) < 8 {
		return errors.New("say in a sentence why this patient's record is needed now (at least 20 characters, 3 words)")
	}
	return nil
}

func reviewTask(c access.Caller, patient, justification, purpose string, now, due time.Time) map[string]any {
	requester := map[string]any{"identifier": map[string]string{"value": c.User}}
	if c.FHIRUser != "" {
		requester["reference"] = c.FHIRUser
	}
	code := map[string]any{"system": resources.ReviewTaskSystem, "code": resources.ReviewTaskCode, "display": "Break-glass compliance review"}
	return map[string]any{
		"resourceType": "Task",
		"meta":         map[string]any{"tag": []any{code}},
		"status":       "requested",
		"intent":       "order",
		"priority":     "urgent",
		"code":         map[string]any{"coding": []any{code}},
		"description":  justification,
		"for":          map[string]string{"reference": "Patient/" + patient},
		"authoredOn":   now.Format(time.RFC3339),
		"requester":    requester,
		"owner":        map[string]string{"display": access.PrivacyOfficerRole},
		"reasonCode":   map[string]any{"coding": []any{map[string]string{"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": purpose}}},
		"restriction":  map[string]any{"period": map[string]string{"end": due.Format(time.RFC3339)}},
	}
}
