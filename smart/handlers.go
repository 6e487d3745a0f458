package smart

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/fhirserver/fhirserver/outcome"
)

// Handlers are the authorization server's endpoints by path, for the HTTP
// server to mount beside the FHIR API.
func (p *Provider) Handlers() map[string]http.Handler {
	return map[string]http.Handler{
		"/auth/authorize":                   p.AuthorizeHandler(),
		"/auth/token":                       p.TokenHandler(),
		"/auth/revoke":                      p.RevokeHandler(),
		"/auth/introspect":                  p.IntrospectHandler(),
		"/auth/jwks":                        p.JWKSHandler(),
		"/auth/smart-style.json":            p.StyleHandler(),
		"/auth/launch":                      p.LaunchHandler(),
		"/auth/launcher":                    p.LauncherHandler(),
		"/.well-known/openid-configuration": jsonHandler(p.OpenIDConfiguration),
	}
}

func jsonHandler(doc func() map[string]any) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "public, max-age=300")
		_ = json.NewEncoder(w).Encode(doc())
	})
}

// LaunchHandler lets an EHR create a launch context (POST, JSON body of
// LaunchContext fields) with a backend-services token that may read
// patients on its own authority; it answers {"launch": value}.
func (p *Provider) LaunchHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fail := func(status int, msg string) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
		}
		if r.Method != http.MethodPost {
			fail(http.StatusMethodNotAllowed, "POST a launch context")
			return
		}
		a, err := p.Authenticate(r)
		if err != nil {
			w.Header().Set("WWW-Authenticate", p.Challenge(err))
			fail(http.StatusUnauthorized, "a backend-services access token is required")
			return
		}
		if g := a.Allows("Patient", 'r'); !g.OK || g.Patient || len(g.Filters) > 0 || a.User != "" {
			fail(http.StatusForbidden, "creating a launch needs a system scope that reads Patient")
			return
		}
		var lc LaunchContext
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil || json.Unmarshal(body, &lc) != nil {
			fail(http.StatusBadRequest, "the body must be a JSON launch context")
			return
		}
		value, err := p.CreateLaunch(r.Context(), lc, a.ClientID)
		if err != nil {
			var oe *outcome.Error
			if errors.As(err, &oe) {
				fail(http.StatusBadRequest, oe.Error())
				return
			}
			p.log.Error("launch", "err", err)
			fail(http.StatusInternalServerError, "the launch could not be stored")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_ = json.NewEncoder(w).Encode(map[string]string{"launch": value})
	})
}
