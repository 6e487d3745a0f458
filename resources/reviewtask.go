package resources

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"

	"github.com/fhirserver/fhirserver/outcome"
	"github.com/fhirserver/fhirserver/resources/access"
	"github.com/fhirserver/fhirserver/storage"
)

// Break-glass review Tasks: made by the server alone, never deleted, and
// changed only to record their review by the privacy officer.
const (
	BreakGlassCaller = "break-glass"
	ReviewTaskSystem = "http://fhirserver.dev/fhir/CodeSystem/task-code"
	ReviewTaskCode   = "break-glass-review"
)

func isReviewTask(obj map[string]any) bool {
	meta, _ := obj["meta"].(map[string]any)
	tags, _ := meta["tag"].([]any)
	for _, t := range tags {
		if m, ok := t.(map[string]any); ok && m["system"] == ReviewTaskSystem && m["code"] == ReviewTaskCode {
			return true
		}
	}
	return false
}

// guardReviewTask refuses what a review Task may not undergo: creation
// through the API, deletion, a change other than its review, a review by
// anyone but the privacy officer, any change once reviewed.
func (w *work) guardReviewTask(ctx context.Context, k storage.Key, obj map[string]any) error {
	h := w.heads[k]
	if h.Version == 0 || h.Deleted {
		if obj != nil && isReviewTask(obj) && w.caller.ID != BreakGlassCaller {
			return outcome.E(outcome.Forbidden, "break-glass review Tasks are made by the server")
		}
		return nil
	}
	prev, err := w.tx.Read(ctx, k)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return err
	}
	old, err := decodeObject(prev.Resource)
	if err != nil || !isReviewTask(old) {
		return err
	}
	switch {
	case obj == nil:
		return outcome.E(outcome.Forbidden, "a break-glass review Task cannot be deleted")
	case w.caller.Role != access.PrivacyOfficerRole:
		return outcome.E(outcome.Forbidden, "only the privacy officer reviews break-glass access")
	case old["status"] == "completed":
		return outcome.E(outcome.Forbidden, "the review is complete and stays as it is")
	}
	for _, f := range []string{"meta", "code", "description", "for", "authoredOn", "requester", "reasonCode", "restriction", "intent"} {
		if f == "meta" {
			if !isReviewTask(obj) {
				return outcome.E(outcome.Forbidden, "a review Task keeps its tag")
			}
			continue
		}
		if !reflect.DeepEqual(old[f], obj[f]) {
			return outcome.E(outcome.Forbidden, "a review Task keeps its %s; only its status, business status and outcome change", f)
		}
	}
	switch obj["status"] {
	case "in-progress":
	case "completed":
		if out, _ := obj["output"].([]any); len(out) == 0 {
			return outcome.E(outcome.Invalid, "a completed review records its outcome in Task.output").At("Task.output")
		}
	default:
		return outcome.E(outcome.Invalid, "a review goes to in-progress or to completed with its outcome").At("Task.status")
	}
	return nil
}

func decodeObject(b []byte) (map[string]any, error) {
	if len(b) == 0 {
		return nil, nil
	}
	var m map[string]any
	return m, json.Unmarshal(b, &m)
}
