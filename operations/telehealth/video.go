package telehealth

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/fhirserver/fhirserver/outcome"
	"github.com/fhirserver/fhirserver/resources"
	"github.com/fhirserver/fhirserver/resources/access"
	"github.com/fhirserver/fhirserver/storage"
	schedstore "github.com/fhirserver/fhirserver/storage/scheduling"
)

// VideoProvider is a video service: rooms, and tokens that let one
// participant into one room for a short time.
type VideoProvider interface {
	Name() string
	CreateRoom(ctx context.Context, name string) error
	// Token lets identity into room until ttl passes; jti names it.
	Token(room, identity, jti string, ttl time.Duration) (string, error)
	EndRoom(ctx context.Context, room string) error
}

func newJTI() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// requiredConsents are what a patient must have agreed to before the
// server lets them into the video; RECORDING is asked for separately.
var requiredConsents = []string{"TELEHEALTH_TERMS", "DATA_PROCESSING"}

// VideoToken is POST Encounter/[id]/$video-token: a token for the caller
// into the session's room, made (and, when its provider fails, moved to
// the next provider) as needed. A patient gets none until the required
// consents exist. The answer is a Parameters: token, provider, room,
// expires.
func (s *Service) VideoToken(ctx context.Context, c access.Caller, id string) ([]byte, error) {
	identity, err := s.videoParticipant(ctx, c, id)
	if err != nil {
		return nil, err
	}
	room, p, err := s.room(ctx, id)
	if err != nil {
		return nil, err
	}
	return s.videoToken(ctx, id, identity, room, p)
}

// participant reads the session as the caller and names the caller's
// part in it: "patient-<id>" for the session's patient (the token's
// fhirUser), "practitioner-<id>" for its practitioner. Anyone else, a
// backend service or another user who reads the Encounter, is refused:
// what only a participant reports or joins.
func (s *Service) participant(ctx context.Context, c access.Caller, id string) (identity, patient string, err error) {
	r, err := s.Res.Read(ctx, c, storage.Key{Type: "Encounter", ID: id})
	if err != nil {
		return "", "", err
	}
	var enc map[string]any
	if err := json.Unmarshal(r.Body, &enc); err != nil {
		return "", "", err
	}
	patient, practitioner := patientOf(enc), practitionerOf(enc)
	switch who := c.FHIRUserRef(); {
	case c.User != "" && patient != "" && who == "Patient/"+patient:
		return "patient-" + patient, patient, nil
	case c.User != "" && practitioner != "" && who == "Practitioner/"+practitioner:
		return "practitioner-" + practitioner, patient, nil
	}
	return "", "", outcome.E(outcome.Forbidden, "only the session's patient and practitioner take part in its video")
}

// videoParticipant is participant for the video itself: the patient only
// once the required consents exist, and only while the session waits or
// is active. Every check comes before the room is touched, so that a
// refused caller changes nothing.
func (s *Service) videoParticipant(ctx context.Context, c access.Caller, id string) (string, error) {
	identity, patient, err := s.participant(ctx, c, id)
	if err != nil {
		return "", err
	}
	if strings.HasPrefix(identity, "patient-") {
		if missing, err := s.missingConsents(ctx, patient); err != nil {
			return "", err
		} else if len(missing) > 0 {
			return "", outcome.E(outcome.Forbidden, "no video before the patient's consent to %s", strings.Join(missing, " and "))
		}
	}
	state, _, err := s.Store.TelehealthState(ctx, id)
	if err != nil {
		return "", err
	}
	if state != "WAITING_ROOM" && state != "ACTIVE" {
		return "", outcome.E(outcome.Conflict, "the session is %s: video is for sessions waiting or active", state)
	}
	return identity, nil
}

// videoToken issues identity a token into room and records it.
func (s *Service) videoToken(ctx context.Context, id, identity string, room schedstore.TelehealthRoom, p VideoProvider) ([]byte, error) {
	ttl := s.TokenTTL
	if ttl == 0 {
		ttl = 2 * time.Minute
	}
	// The identity carries the token's id, so that the video server's
	// report of a join names the token used (LiveKitWebhook).
	jti := newJTI()
	identity += "#" + jti
	token, err := p.Token(room.Room, identity, jti, ttl)
	if err != nil {
		return nil, err
	}
	expires := s.now().Add(ttl).UTC()
	if err := s.Store.RecordToken(ctx, jti, id, identity, p.Name(), expires); err != nil {
		return nil, err
	}
	return json.Marshal(map[string]any{"resourceType": "Parameters", "parameter": []map[string]any{
		{"name": "token", "valueString": token},
		{"name": "provider", "valueString": p.Name()},
		{"name": "room", "valueString": room.Room},
		{"name": "expires", "valueInstant": expires.Format(time.RFC3339)},
	}})
}

// room is the session's room in force, made with the first provider that
// can when there is none or its provider is gone; a new map row each time,
// so a failover leaves the clinical record as it was.
func (s *Service) room(ctx context.Context, id string) (schedstore.TelehealthRoom, VideoProvider, error) {
	cur, err := s.Store.CurrentRoom(ctx, id)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return cur, nil, err
	}
	if err == nil {
		if p := s.provider(cur.Provider); p != nil {
			return cur, p, nil
		}
	}
	reason := "first room"
	if err == nil {
		reason = "provider " + cur.Provider + " is no longer offered"
	}
	return s.failover(ctx, id, "", reason)
}

// failover makes the session a room with the first provider but skip that
// can, and maps it.
func (s *Service) failover(ctx context.Context, id, skip, reason string) (schedstore.TelehealthRoom, VideoProvider, error) {
	var errs []error
	for _, p := range s.Providers {
		if p.Name() == skip {
			continue
		}
		name := "session-" + id
		if err := p.CreateRoom(ctx, name); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", p.Name(), err))
			reason = fmt.Sprintf("%s; %s failed", reason, p.Name())
			continue
		}
		r := schedstore.TelehealthRoom{Provider: p.Name(), Room: name}
		if err := s.Store.MapRoom(ctx, id, r, reason); err != nil {
			return r, nil, err
		}
		return r, p, nil
	}
	return schedstore.TelehealthRoom{}, nil, outcome.E(outcome.Transient, "no video provider is available; try again").
		Wrap("telehealth room", errors.Join(append([]error{errNoProvider}, errs...)...))
}

// ProviderFailed is POST Encounter/[id]/$video-failover: the client found
// the room's provider failing; the session moves to the next provider (a
// new map row), and the answer is as $video-token's.
//
// Only a participant who could have a video token reports a failure, and
// that is checked before the room moves: a room switched for anyone who
// reads the Encounter would let them disrupt the session.
func (s *Service) ProviderFailed(ctx context.Context, c access.Caller, id string) ([]byte, error) {
	identity, err := s.videoParticipant(ctx, c, id)
	if err != nil {
		return nil, err
	}
	cur, err := s.Store.CurrentRoom(ctx, id)
	if err != nil {
		return nil, outcome.E(outcome.Conflict, "the session has no room yet")
	}
	room, p, err := s.failover(ctx, id, cur.Provider, "provider "+cur.Provider+" failed")
	if err != nil {
		return nil, err
	}
	return s.videoToken(ctx, id, identity, room, p)
}

func (s *Service) provider(name string) VideoProvider {
	for _, p := range s.Providers {
		if p.Name() == name {
			return p
		}
	}
	return nil
}

// missingConsents are the required consents the patient has not given.
func (s *Service) missingConsents(ctx context.Context, patient string) ([]string, error) {
	system := access.System("telehealth")
	r, err := s.Res.Search(storage.Unrestricted(ctx), system, "Consent",
		url.Values{"patient": {"Patient/" + patient}, "status": {"active"}, "category": {ConsentSystem + "|"}, "_count": {"100"}}, resources.Options{}, nil)
	if err != nil {
		return nil, err
	}
	var page struct {
		Entry []struct {
			Resource struct {
				Category []struct {
					Coding []struct{ System, Code string }
				}
			}
		}
	}
	if err := json.Unmarshal(r.Body, &page); err != nil {
		return nil, err
	}
	have := map[string]bool{}
	for _, e := range page.Entry {
		for _, cat := range e.Resource.Category {
			for _, cd := range cat.Coding {
				if cd.System == ConsentSystem {
					have[cd.Code] = true
				}
			}
		}
	}
	var missing []string
	for _, want := range requiredConsents {
		if !have[want] {
			missing = append(missing, want)
		}
	}
	return missing, nil
}

// Consent is POST Encounter/[id]/$consent: type (RECORDING,
// DATA_PROCESSING, TELEHEALTH_TERMS) and method (IN_APP_CLICK by the
// patient, VERBAL_CONFIRMED_BY_CLINICIAN by the practitioner); the
// patient's Consent is written with the method and the request's IP.
func (s *Service) Consent(ctx context.Context, c access.Caller, id string, body []byte, ip string) (resources.Result, error) {
	p, err := params(body)
	if err != nil {
		return resources.Result{}, err
	}
	kind, method := p.code("type"), p.code("method")
	if !slices.Contains([]string{"RECORDING", "DATA_PROCESSING", "TELEHEALTH_TERMS"}, kind) {
		return resources.Result{}, outcome.E(outcome.Invalid, "type is RECORDING, DATA_PROCESSING or TELEHEALTH_TERMS").At("type")
	}
	r, err := s.Res.Read(ctx, c, storage.Key{Type: "Encounter", ID: id})
	if err != nil {
		return resources.Result{}, err
	}
	var enc map[string]any
	if err := json.Unmarshal(r.Body, &enc); err != nil {
		return resources.Result{}, err
	}
	patient, practitioner := patientOf(enc), practitionerOf(enc)
	switch {
	case method == "IN_APP_CLICK" && c.FHIRUserRef() == "Patient/"+patient:
	case method == "VERBAL_CONFIRMED_BY_CLINICIAN" && c.FHIRUserRef() == "Practitioner/"+practitioner:
	case method != "IN_APP_CLICK" && method != "VERBAL_CONFIRMED_BY_CLINICIAN":
		return resources.Result{}, outcome.E(outcome.Invalid, "method is IN_APP_CLICK or VERBAL_CONFIRMED_BY_CLINICIAN").At("method")
	default:
		return resources.Result{}, outcome.E(outcome.Forbidden, "%s consent is given by the session's %s", method,
			map[bool]string{true: "patient", false: "practitioner"}[method == "IN_APP_CLICK"])
	}
	consent := map[string]any{"resourceType": "Consent", "status": "active",
		"scope":      map[string]any{"coding": []any{map[string]any{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}}},
		"category":   []any{map[string]any{"coding": []any{map[string]any{"system": ConsentSystem, "code": kind}}}},
		"patient":    map[string]any{"reference": "Patient/" + patient},
		"dateTime":   s.now().UTC().Format(time.RFC3339),
		"policyRule": map[string]any{"text": "telehealth " + strings.ToLower(kind)},
		"extension": []any{map[string]any{"url": MethodURL, "valueCode": method}, map[string]any{"url": IPURL, "valueString": ip},
			map[string]any{"url": "http://fhirserver.dev/fhir/StructureDefinition/consent-encounter", "valueReference": map[string]any{"reference": "Encounter/" + id}}}}
	var v *storage.Version
	err = s.Res.Transact(ctx, server(c), func(t *resources.Txn) error {
		var err error
		v, err = t.Create(ctx, consent)
		return err
	})
	if err != nil {
		return resources.Result{}, err
	}
	return resources.Result{Status: 201, Body: v.Resource, Version: v, Keys: []storage.Key{v.Key}}, nil
}

// Quality is POST Encounter/[id]/$quality: kind (PACKET_LOSS,
// BITRATE_DROP, DISCONNECT, RECONNECT, JITTER) and value (valueDecimal or
// valueString); stored apart from the clinical record. Only the
// session's participants report, as they are the ones in its video.
func (s *Service) Quality(ctx context.Context, c access.Caller, id string, body []byte) error {
	if _, _, err := s.participant(ctx, c, id); err != nil {
		return err
	}
	p, err := params(body)
	if err != nil {
		return err
	}
	kind := p.code("kind")
	if !slices.Contains([]string{"PACKET_LOSS", "BITRATE_DROP", "DISCONNECT", "RECONNECT", "JITTER"}, kind) {
		return outcome.E(outcome.Invalid, "kind is PACKET_LOSS, BITRATE_DROP, DISCONNECT, RECONNECT or JITTER").At("kind")
	}
	value, err := json.Marshal(p.value("value"))
	if err != nil {
		return err
	}
	return s.Store.AddQuality(ctx, id, kind, value, actor(c))
}

// parameters is a decoded Parameters resource.
type parameters []map[string]any

func params(body []byte) (parameters, error) {
	var p struct {
		ResourceType string           `json:"resourceType"`
		Parameter    []map[string]any `json:"parameter"`
	}
	if err := json.Unmarshal(body, &p); err != nil || p.ResourceType != "Parameters" {
		return nil, outcome.E(outcome.Invalid, "the body must be a Parameters resource")
	}
	return p.Parameter, nil
}

func (p parameters) part(name string) map[string]any {
	for _, q := range p {
		if q["name"] == name {
			return q
		}
	}
	return nil
}

func (p parameters) code(name string) string {
	q := p.part(name)
	for _, k := range []string{"valueCode", "valueString"} {
		if s, ok := q[k].(string); ok {
			return s
		}
	}
	return ""
}

func (p parameters) ref(name string) string {
	r, _ := p.part(name)["valueReference"].(map[string]any)
	s, _ := r["reference"].(string)
	return s
}

func (p parameters) value(name string) any {
	for k, v := range p.part(name) {
		if strings.HasPrefix(k, "value") {
			return v
		}
	}
	return nil
}

// WebhookVerifier is a provider that reports joins to the server.
type WebhookVerifier interface {
	VideoProvider
	// VerifyWebhook checks a report's signature and reads it.
	VerifyWebhook(authorization string, body []byte) (WebhookEvent, error)
	RemoveParticipant(ctx context.Context, room, identity string) error
}

// WebhookEvent is what a video server reports.
type WebhookEvent struct {
	Event    string
	Room     string
	Identity string
}

// VideoWebhook is the video server's report of what happens in its rooms
// (POST /video/webhook, signed by the provider, no bearer token). A
// participant joining with a token is allowed once: a token used again, or
// one this server did not issue, has its participant removed from the
// room, so that a video token is single use.
func (s *Service) VideoWebhook(ctx context.Context, authorization string, body []byte) error {
	for _, p := range s.Providers {
		v, ok := p.(WebhookVerifier)
		if !ok {
			continue
		}
		ev, err := v.VerifyWebhook(authorization, body)
		if err != nil {
			continue
		}
		if ev.Event != "participant_joined" {
			return nil
		}
		_, jti, _ := strings.Cut(ev.Identity, "#")
		kind, err := s.Store.UseToken(ctx, jti, ev.Room)
		if err != nil {
			return err
		}
		if kind == "FIRST" {
			return nil
		}
		return v.RemoveParticipant(ctx, ev.Room, ev.Identity)
	}
	return outcome.E(outcome.Unauthorized, "the report is not signed by a video provider this server uses")
}
