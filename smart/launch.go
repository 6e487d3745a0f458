package smart

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/fhirserver/fhirserver/outcome"
	"github.com/fhirserver/fhirserver/storage"
)

// launchStore keeps EHR launch contexts.
type launchStore interface {
	// The store keeps only a hash of each launch value.
	PutLaunch(ctx context.Context, value string, context json.RawMessage, createdBy string, expires time.Time) error
	Launch(ctx context.Context, value string) (json.RawMessage, error)
	UseLaunch(ctx context.Context, value string) error
}

// launchLifespan is how long an EHR has given an app to use its launch
// value: the browser goes straight from the EHR to the app to here.
const launchLifespan = 5 * time.Minute

// LaunchContext is what an EHR hands an app through a launch value.
type LaunchContext struct {
	Patient           string            `json:"patient,omitempty"`   // a Patient id
	Encounter         string            `json:"encounter,omitempty"` // an Encounter id
	User              string            `json:"user,omitempty"`      // the signed-in user, when the EHR knows them
	FHIRContext       []json.RawMessage `json:"fhirContext,omitempty"`
	NeedPatientBanner *bool             `json:"need_patient_banner,omitempty"`
	Intent            string            `json:"intent,omitempty"`
}

// CreateLaunch stores a launch context and returns its opaque, single-use
// launch value; only its hash is stored.
func (p *Provider) CreateLaunch(ctx context.Context, lc LaunchContext, createdBy string) (string, error) {
	if err := lc.check(); err != nil {
		return "", err
	}
	if err := p.checkExists(ctx, lc); err != nil {
		return "", err
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	value := base64.RawURLEncoding.EncodeToString(b)
	body, err := json.Marshal(lc)
	if err != nil {
		return "", err
	}
	if err := p.db.PutLaunch(ctx, value, body, createdBy, time.Now().Add(launchLifespan)); err != nil {
		return "", err
	}
	return value, nil
}

func (lc LaunchContext) check() error {
	for _, id := range []string{lc.Patient, lc.Encounter} {
		if strings.ContainsAny(id, "/?#") {
			return outcome.E(outcome.Invalid, "launch: patient and encounter are ids, not references")
		}
	}
	for _, c := range lc.FHIRContext {
		var v map[string]any
		if json.Unmarshal(c, &v) != nil {
			return outcome.E(outcome.Invalid, "launch: each fhirContext item is a JSON object")
		}
	}
	return nil
}

// checkExists refuses a launch context naming a patient or encounter the
// server does not hold, or an encounter of another patient: the app would
// be launched into a context that is not there.
func (p *Provider) checkExists(ctx context.Context, lc LaunchContext) error {
	if p.dir == nil {
		return errors.New("smart: launch contexts cannot be checked without a directory")
	}
	if lc.Patient != "" {
		if _, err := p.dir.Patient(ctx, lc.Patient); errors.Is(err, storage.ErrNotFound) {
			return outcome.E(outcome.Invalid, "launch: there is no Patient %q", lc.Patient)
		} else if err != nil {
			return err
		}
	}
	if lc.Encounter == "" {
		return nil
	}
	e, err := p.dir.Encounter(ctx, lc.Encounter)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return outcome.E(outcome.Invalid, "launch: there is no Encounter %q", lc.Encounter)
	case err != nil:
		return err
	case lc.Patient != "" && e.Patient != lc.Patient:
		return outcome.E(outcome.Invalid, "launch: Encounter %q is not Patient %q's", lc.Encounter, lc.Patient)
	}
	return nil
}

var errLaunch = errors.New("the launch value is unknown, used or expired")

// launchContext reads a launch value's context without using it up.
func (p *Provider) launchContext(ctx context.Context, value string) (LaunchContext, error) {
	var lc LaunchContext
	raw, err := p.db.Launch(ctx, value)
	if errors.Is(err, storage.ErrNotFound) {
		return lc, errLaunch
	}
	if err != nil {
		return lc, err
	}
	return lc, json.Unmarshal(raw, &lc)
}

// useLaunch uses a launch value up; errLaunch when it was already used.
func (p *Provider) useLaunch(ctx context.Context, value string) error {
	err := p.db.UseLaunch(ctx, value)
	if errors.Is(err, storage.ErrConflict) {
		return errLaunch
	}
	return err
}
