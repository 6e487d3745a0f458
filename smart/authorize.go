package smart

import (
	"context"
	"crypto/hmac"
	"embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ory/fosite"

	"github.com/fhirserver/fhirserver/storage"
	"github.com/fhirserver/fhirserver/storage/oauth"
)

//go:embed pages/*.html
var pageFiles embed.FS

var pages = template.Must(template.ParseFS(pageFiles, "pages/*.html"))

// Choice is a patient or encounter a user may pick.
type Choice struct {
	ID      string
	Label   string
	Patient string // an encounter's patient
}

// Directory answers the questions the authorization pages ask of the FHIR
// data: which patients a user may choose, and a patient's encounters.
type Directory interface {
	Patients(ctx context.Context, name string, limit int) ([]Choice, error)
	Patient(ctx context.Context, id string) (Choice, error)   // storage.ErrNotFound when there is none
	Encounter(ctx context.Context, id string) (Choice, error) // storage.ErrNotFound when there is none
	Encounters(ctx context.Context, patient string, limit int) ([]Choice, error)
}

// SetDirectory gives the authorization pages their view of the FHIR data.
func (p *Provider) SetDirectory(d Directory) { p.dir = d }

// authorizeParams are the request parameters the pages carry from step to
// step in hidden fields (SMART's authorize-post lets the app send them in a
// form body as well as in the query).
var authorizeParams = []string{
	"response_type", "client_id", "redirect_uri", "scope", "state", "aud", "launch",
	"code_challenge", "code_challenge_method", "nonce", "prompt", "max_age",
}

// AuthorizeHandler is the authorization endpoint (GET and POST): it checks
// the app's request, signs the user in, asks for the patient (and
// encounter) when a standalone launch wants one, asks the user what to
// share, and redirects back with a code.
func (p *Provider) AuthorizeHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		ar, err := p.oauth.NewAuthorizeRequest(ctx, r)
		if err != nil {
			p.authorizeError(ctx, w, ar, err)
			return
		}
		// The forms post here, and the last one is answered with a
		// redirect to the app, which form-action must allow too.
		pageHeaders(w, "'self' "+origin(ar.GetRedirectURI()))
		lc, err := p.checkSMART(ctx, ar)
		if err != nil {
			p.authorizeError(ctx, w, ar, err)
			return
		}
		p.authorizeSteps(w, r, ar, lc)
	})
}

// pageHeaders keep the authorization pages out of frames and caches and
// let their forms go only where they must.
func pageHeaders(w http.ResponseWriter, formAction string) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action "+formAction+"; frame-ancestors 'none'")
}

func origin(u *url.URL) string {
	if u == nil {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

func (p *Provider) authorizeError(ctx context.Context, w http.ResponseWriter, ar fosite.AuthorizeRequester, err error) {
	rfc := fosite.ErrorToRFC6749Error(err)
	p.log.Warn("authorization refused", "error", rfc.ErrorField, "hint", rfc.HintField)
	p.oauth.WriteAuthorizeError(ctx, w, ar, err)
}

// checkSMART applies what SMART App Launch 2.2 adds to an OAuth2 code
// request: a registered redirect_uri given explicitly, aud naming this FHIR
// server, PKCE with S256, and a launch value for an EHR launch.
func (p *Provider) checkSMART(ctx context.Context, ar fosite.AuthorizeRequester) (*LaunchContext, error) {
	f := ar.GetRequestForm()
	if f.Get("redirect_uri") == "" {
		return nil, fosite.ErrInvalidRequest.WithHint("The redirect_uri parameter is required.")
	}
	if !sameURL(f.Get("aud"), p.cfg.FHIRBase) {
		return nil, fosite.ErrInvalidRequest.WithHintf("The aud parameter must be this FHIR server's base URL, %s.", p.cfg.FHIRBase)
	}
	if f.Get("code_challenge") == "" || f.Get("code_challenge_method") != "S256" {
		return nil, fosite.ErrInvalidRequest.WithHint("PKCE is required: send code_challenge with code_challenge_method=S256.")
	}
	launch := f.Get("launch")
	hasScope := ar.GetRequestedScopes().Has("launch")
	switch {
	case launch == "" && hasScope:
		return nil, fosite.ErrInvalidRequest.WithHint("The launch scope needs the launch value the EHR gave the app.")
	case launch == "":
		return nil, nil
	case !hasScope:
		return nil, fosite.ErrInvalidScope.WithHint("An EHR launch must request the launch scope.")
	}
	lc, err := p.launchContext(ctx, launch)
	if errors.Is(err, errLaunch) {
		return nil, fosite.ErrInvalidRequest.WithHint("The launch value is unknown, used or expired.")
	}
	if err != nil {
		return nil, fosite.ErrServerError.WithWrap(err)
	}
	return &lc, nil
}

// sameURL compares URLs as SMART apps send them: exactly, but for a
// trailing slash.
func sameURL(a, b string) bool {
	return a != "" && strings.TrimRight(a, "/") == strings.TrimRight(b, "/")
}

// page is what every authorization page shows.
type page struct {
	Title, Error, CSRF, Action, Client string
	Params                             url.Values
	Step, What, Query, Patient         string
	Choices, Apps                      []Choice
	Scopes                             []scopeChoice
	// retryAfter is set while a lockout refuses the sign-in: the page
	// goes with 429 and Retry-After.
	retryAfter int
}

// writeStatus sends the page's status, before its body.
func (pg *page) writeStatus(w http.ResponseWriter) {
	if pg.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(pg.retryAfter))
		w.WriteHeader(http.StatusTooManyRequests)
	}
}

func (p *Provider) authorizeSteps(w http.ResponseWriter, r *http.Request, ar fosite.AuthorizeRequester, lc *LaunchContext) {
	ctx := r.Context()
	s := p.readSignin(r)
	f := r.Form
	step := f.Get("_step")
	if step != "" && !p.csrfValid(s, f.Get("_csrf")) {
		// A stale form (signed out meanwhile) or another site's: start over.
		step = ""
	}
	pg := page{CSRF: p.csrfToken(s), Action: p.cfg.Issuer + "/auth/authorize", Client: ar.GetClient().GetID(), Params: url.Values{}}
	for _, k := range authorizeParams {
		if v, ok := f[k]; ok {
			pg.Params[k] = v
		}
	}
	if step != "" && !p.bindValid(s, pg.Params, f.Get("_bind")) {
		// The pages carry the app's request in hidden fields; what the
		// user grants must be what the app asked for, not an edited copy.
		p.authorizeError(ctx, w, ar, fosite.ErrInvalidRequest.WithHint("The authorization request was changed between pages."))
		return
	}
	pg.Params.Set("_bind", p.bind(s, pg.Params))
	render := func(name string) {
		p.writeSignin(w, s)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		pg.writeStatus(w)
		if err := pages.ExecuteTemplate(w, name, pg); err != nil {
			p.log.Error("authorization page", "page", name, "err", err)
		}
	}
	user, ok, err := p.signedIn(r, &s, &step, &pg, render)
	if err != nil {
		p.authorizeError(ctx, w, ar, fosite.ErrServerError.WithWrap(err))
		return
	}
	if !ok {
		return
	}
	if lc != nil && lc.User != "" && lc.User != user.Username {
		// The EHR launched the app for someone else at this browser.
		p.authorizeError(ctx, w, ar, fosite.ErrAccessDenied.WithHint("The launch was made for another user."))
		return
	}
	launch, patient, ok := p.chooseContext(w, r, ar, lc, user, &pg, render)
	if !ok {
		return
	}
	if step != "consent" {
		pg.Title = "Allow access?"
		pg.Patient = patient.Label
		pg.Params.Set("patient", launch.Patient)
		if launch.Encounter != "" {
			pg.Params.Set("encounter", launch.Encounter)
		}
		pg.Scopes = describeScopes(ar.GetRequestedScopes())
		render("consent.html")
		return
	}
	if f.Get("decision") != "approve" {
		p.authorizeError(ctx, w, ar, fosite.ErrAccessDenied.WithHint("The user denied the request."))
		return
	}
	p.finishAuthorize(w, r, ar, lc, user, launch, s)
}

// bind signs the app's request parameters for the sign-in's pages.
func (p *Provider) bind(s signin, params url.Values) string {
	return base64.RawURLEncoding.EncodeToString(p.mac("params:" + s.SID + "\n" + params.Encode()))
}

func (p *Provider) bindValid(s signin, params url.Values, got string) bool {
	return hmac.Equal([]byte(got), []byte(p.bind(s, params)))
}

// signedIn settles who is signed in: the cookie's user, or the one a
// posted sign-in form names (whose step it then consumes). ok is false when
// the sign-in page was written instead.
func (p *Provider) signedIn(r *http.Request, s *signin, step *string, pg *page, render func(string)) (oauth.User, bool, error) {
	ctx, f := r.Context(), r.Form
	if s.User == "" && *step == "login" {
		name := f.Get("username")
		u, err := p.login(ctx, p.attempt(r, "user", name), name, f.Get("password"))
		var locked *lockedOut
		switch {
		case err == nil:
			*s = signin{SID: s.SID, User: u.Username, Auth: time.Now().Unix()}
			*step = ""
		case errors.As(err, &locked):
			pg.Error = fmt.Sprintf("Too many failed sign-ins: signing in is locked for %d more minutes.", (locked.retryAfter()+59)/60)
			pg.retryAfter = locked.retryAfter()
		case errors.Is(err, errBadLogin):
			pg.Error = err.Error()
		default:
			return oauth.User{}, false, err
		}
	}
	if s.User != "" {
		user, err := p.db.User(ctx, s.User)
		if err == nil {
			return user, true, nil
		}
		if !errors.Is(err, storage.ErrNotFound) {
			return user, false, err
		}
		*s = signin{SID: s.SID} // a user who no longer exists signs in again
	}
	pg.Title = "Sign in"
	render("login.html")
	return oauth.User{}, false, nil
}

// chooseContext settles the patient and encounter of the launch: from the
// EHR's launch context, or, in a standalone launch that asks for them, from
// the user's picks (a user who is a patient is their own context). ok is
// false when a page was written instead.
func (p *Provider) chooseContext(w http.ResponseWriter, r *http.Request, ar fosite.AuthorizeRequester, lc *LaunchContext,
	user oauth.User, pg *page, render func(string)) (Launch, Choice, bool) {
	// The pickers show only the patients the user may see.
	ctx := storage.WithCare(r.Context(), storage.CareOf(user.FHIRUser))
	scopes := ar.GetRequestedScopes()
	var l Launch
	if lc != nil {
		l = Launch{Patient: lc.Patient, Encounter: lc.Encounter, FHIRContext: lc.FHIRContext, NeedPatientBanner: lc.NeedPatientBanner, Intent: lc.Intent}
	} else if scopes.Has("launch/patient") || strings.HasPrefix(user.FHIRUser, "Patient/") {
		banner := true
		l.NeedPatientBanner = &banner
		l.Patient = r.Form.Get("patient")
		if id, ok := strings.CutPrefix(user.FHIRUser, "Patient/"); ok {
			l.Patient = id // a patient only ever sees their own record
		}
	}
	if l.Patient == "" {
		if lc == nil && scopes.Has("launch/patient") {
			p.pickPatient(ctx, pg, r.Form.Get("q"), "", render)
			return l, Choice{}, false
		}
		return l, Choice{}, true
	}
	patient, err := p.dir.Patient(ctx, l.Patient)
	if err != nil {
		if lc != nil || !errors.Is(err, storage.ErrNotFound) {
			p.authorizeError(ctx, w, ar, fosite.ErrServerError.WithHint("The patient in context cannot be read."))
			return l, Choice{}, false
		}
		p.pickPatient(ctx, pg, r.Form.Get("q"), "That patient was not found.", render)
		return l, Choice{}, false
	}
	if r.Form.Get("_search") != "" && lc == nil && !strings.HasPrefix(user.FHIRUser, "Patient/") {
		p.pickPatient(ctx, pg, r.Form.Get("q"), "", render)
		return l, Choice{}, false
	}
	if lc == nil && scopes.Has("launch/encounter") {
		encounters, err := p.dir.Encounters(ctx, l.Patient, 100)
		if err != nil {
			p.authorizeError(ctx, w, ar, fosite.ErrServerError.WithWrap(err))
			return l, Choice{}, false
		}
		l.Encounter = r.Form.Get("encounter")
		if !slices.ContainsFunc(encounters, func(c Choice) bool { return c.ID == l.Encounter }) {
			pg.Title, pg.Step, pg.What, pg.Choices = "Choose an encounter", "encounter", "encounter", encounters
			pg.Params.Set("patient", l.Patient)
			render("pick.html")
			return l, Choice{}, false
		}
	}
	return l, patient, true
}

func (p *Provider) pickPatient(ctx context.Context, pg *page, q, problem string, render func(string)) {
	q = strings.TrimSpace(q)
	choices, err := p.dir.Patients(ctx, q, 50)
	if err != nil {
		problem = "The patient list cannot be read."
	}
	pg.Title, pg.Step, pg.What, pg.Choices, pg.Query, pg.Error = "Choose a patient", "patient", "patient", choices, q, problem
	render("pick.html")
}

// finishAuthorize grants what the user approved and redirects to the app
// with a code.
func (p *Provider) finishAuthorize(w http.ResponseWriter, r *http.Request, ar fosite.AuthorizeRequester, lc *LaunchContext,
	user oauth.User, l Launch, s signin) {
	ctx := r.Context()
	offered := map[string]bool{}
	for _, c := range describeScopes(ar.GetRequestedScopes()) {
		offered[c.Scope] = true
		for _, g := range c.Categories {
			offered[g.Scope] = true
		}
	}
	for _, g := range r.Form["grant"] {
		if offered[g] {
			ar.GrantScope(g)
		}
	}
	if lc != nil {
		if err := p.useLaunch(ctx, ar.GetRequestForm().Get("launch")); err != nil {
			p.authorizeError(ctx, w, ar, fosite.ErrInvalidRequest.WithHint("The launch value was already used."))
			return
		}
	}
	session := newSession()
	session.Subject, session.User, session.Role, session.Launch = user.Username, user.Username, user.Role, l
	session.UserResource = user.FHIRUser
	if id, ok := strings.CutPrefix(user.FHIRUser, "Patient/"); ok {
		session.FHIRUser = user.FHIRUser // holds the token to the user's own record, fhirUser scope or not
		session.Launch.Patient = id
	}
	claims := session.Claims
	claims.Subject, claims.Issuer = user.Username, p.cfg.Issuer
	claims.AuthTime, claims.RequestedAt = time.Unix(s.Auth, 0).UTC(), ar.GetRequestedAt()
	if user.FHIRUser != "" && ar.GetGrantedScopes().Has("fhirUser") {
		session.FHIRUser = user.FHIRUser
		claims.Extra = map[string]any{"fhirUser": p.cfg.FHIRBase + "/" + user.FHIRUser}
	}
	session.OnlineOnly = ar.GetGrantedScopes().Has("online_access") && !ar.GetGrantedScopes().Has("offline_access")
	session.Introspection = map[string]any{"iss": p.cfg.Issuer}
	if session.Launch.Patient != "" {
		session.Introspection["patient"] = session.Launch.Patient
	}
	if session.Launch.Encounter != "" {
		session.Introspection["encounter"] = session.Launch.Encounter
	}
	if f, ok := claims.Extra["fhirUser"]; ok {
		session.Introspection["fhirUser"] = f
	}
	if key, err := p.signingKey(ctx); err == nil {
		session.Headers.Extra = map[string]any{"kid": keyID(key)}
	}
	resp, err := p.oauth.NewAuthorizeResponse(ctx, ar, session)
	if err != nil {
		p.authorizeError(ctx, w, ar, err)
		return
	}
	p.log.Info("authorization granted", "client", ar.GetClient().GetID(), "scopes", len(ar.GetGrantedScopes()))
	p.oauth.WriteAuthorizeResponse(ctx, w, ar, resp)
}

// StyleHandler serves the smart_style_url document: how an app can match
// the look of the pages that launched it.
func (p *Provider) StyleHandler() http.Handler {
	style, _ := json.Marshal(map[string]any{
		"color_background": "#ffffff", "color_error": "#aa0000", "color_highlight": "#1a5fb4",
		"color_modal_backdrop": "", "color_success": "#2e7d32", "color_text": "#1b1b1b",
		"dim_border_radius": "4px", "dim_font_size": "16px", "dim_spacing_size": "16px",
		"font_family_body": "system-ui, sans-serif", "font_family_heading": "system-ui, sans-serif",
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Access-Control-Allow-Origin", "*")
		w.Header().Set("Cache-Control", "public, max-age=3600")
		_, _ = w.Write(style)
	})
}
