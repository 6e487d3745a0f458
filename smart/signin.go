package smart

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"time"
)

// The sign-in cookie: who signed in on the authorization pages, signed
// with a key derived from the server's secret. It holds no PHI and lives
// in the browser only (HttpOnly, Secure, SameSite=Lax so that the app's
// redirect to /auth/authorize carries it).
const (
	signinCookie = "fhir_signin"
	// idleTimeout signs a user out after this long without a page.
	idleTimeout = 15 * time.Minute
	// signinLifespan bounds a sign-in however active it is.
	signinLifespan = 8 * time.Hour
)

type signin struct {
	SID  string `json:"sid"`            // random: what CSRF tokens are bound to
	User string `json:"u,omitempty"`    // empty before sign-in
	Auth int64  `json:"auth,omitempty"` // when the user signed in (unix seconds)
	Last int64  `json:"last"`           // the last page (unix seconds)
}

// readSignin returns the request's sign-in, or a fresh anonymous one when
// there is none, it does not verify, or it has gone idle or old.
func (p *Provider) readSignin(r *http.Request) signin {
	now := time.Now()
	if c, err := r.Cookie(signinCookie); err == nil {
		if s, ok := p.verifySignin(c.Value); ok &&
			now.Sub(time.Unix(s.Last, 0)) < idleTimeout &&
			(s.User == "" || now.Sub(time.Unix(s.Auth, 0)) < signinLifespan) {
			return s
		}
	}
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return signin{SID: base64.RawURLEncoding.EncodeToString(b), Last: now.Unix()}
}

func (p *Provider) verifySignin(v string) (signin, bool) {
	var s signin
	body, mac, ok := strings.Cut(v, ".")
	if !ok {
		return s, false
	}
	want := p.mac("cookie:" + body)
	got, err := base64.RawURLEncoding.DecodeString(mac)
	if err != nil || !hmac.Equal(got, want) {
		return s, false
	}
	raw, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil || json.Unmarshal(raw, &s) != nil || s.SID == "" {
		return s, false
	}
	return s, true
}

// writeSignin sets the cookie with the activity time renewed.
func (p *Provider) writeSignin(w http.ResponseWriter, s signin) {
	s.Last = time.Now().Unix()
	raw, _ := json.Marshal(s)
	body := base64.RawURLEncoding.EncodeToString(raw)
	http.SetCookie(w, &http.Cookie{
		Name:     signinCookie,
		Value:    body + "." + base64.RawURLEncoding.EncodeToString(p.mac("cookie:"+body)),
		Path:     "/auth/",
		MaxAge:   int(signinLifespan / time.Second),
		HttpOnly: true,
		Secure:   true,
		SameSite: http.SameSiteLaxMode,
	})
}

func (p *Provider) mac(msg string) []byte {
	m := hmac.New(sha256.New, p.cookieKey)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

// csrfToken is bound to the sign-in's random id, so that a form posted
// from another site (which cannot read it) is refused.
func (p *Provider) csrfToken(s signin) string {
	return base64.RawURLEncoding.EncodeToString(p.mac("csrf:" + s.SID))
}

func (p *Provider) csrfValid(s signin, token string) bool {
	got, err := base64.RawURLEncoding.DecodeString(token)
	return err == nil && hmac.Equal(got, p.mac("csrf:"+s.SID))
}
