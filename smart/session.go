package smart

import (
	"encoding/json"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/openid"
	"github.com/ory/fosite/token/jwt"
)

// Launch is the context a token carries: the patient and encounter in
// context, and what the token response tells the app about them.
type Launch struct {
	Patient           string            `json:"patient,omitempty"`
	Encounter         string            `json:"encounter,omitempty"`
	FHIRContext       []json.RawMessage `json:"fhirContext,omitempty"`
	NeedPatientBanner *bool             `json:"need_patient_banner,omitempty"`
	Intent            string            `json:"intent,omitempty"`
}

// Session is what fosite keeps with every code and token: the OpenID
// Connect session (subject, id_token claims) and the SMART launch context.
type Session struct {
	*openid.DefaultSession
	Launch Launch `json:"launch"`
	// User is who signed in to grant the token; empty for a backend
	// service (whose Subject is its client id).
	User     string `json:"user,omitempty"`
	Role     string `json:"role,omitempty"`
	FHIRUser string `json:"fhir_user,omitempty"`
	// UserResource is the user's own resource whatever the scopes granted:
	// what the database holds the user's queries to (storage.CareOf).
	UserResource string `json:"user_resource,omitempty"`
	// OnlineOnly: the user granted online_access without offline_access
	// (the code's granted scopes are not yet known when the token endpoint
	// sets lifespans, so the authorization records it here).
	OnlineOnly bool `json:"online_only,omitempty"`
	// Introspection is what RFC 7662 introspection adds to the standard
	// fields: iss, and the launch context (patient, encounter, fhirUser).
	Introspection map[string]any `json:"introspection,omitempty"`
}

// GetExtraClaims is fosite's hook for the introspection response.
func (s *Session) GetExtraClaims() map[string]any {
	out := make(map[string]any, len(s.Introspection))
	for k, v := range s.Introspection {
		out[k] = v
	}
	return out
}

func newSession() *Session {
	return &Session{DefaultSession: &openid.DefaultSession{Claims: &jwt.IDTokenClaims{}, Headers: &jwt.Headers{}}}
}

// Clone copies the whole session: fosite clones the session of a refresh
// token into the tokens it issues, and the launch context must come along.
func (s *Session) Clone() fosite.Session {
	if s == nil {
		return nil
	}
	b, err := json.Marshal(s)
	if err != nil {
		return newSession()
	}
	c := newSession()
	if json.Unmarshal(b, c) != nil {
		return newSession()
	}
	return c
}
