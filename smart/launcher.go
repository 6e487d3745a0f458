package smart

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/fhirserver/fhirserver/storage"
	"github.com/fhirserver/fhirserver/storage/oauth"
)

// launcherStore lists the apps an EHR can launch.
type launcherStore interface {
	LaunchableClients(ctx context.Context) ([]oauth.Client, error)
}

// LauncherHandler is the EHR launcher: a signed-in user picks a registered
// app (one with a launch URL) and a patient, and optionally an encounter;
// the server stores the launch context and sends the browser to the app's
// launch URL with iss (the FHIR base URL, byte for byte) and launch.
func (p *Provider) LauncherHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			http.Error(w, "malformed form", http.StatusBadRequest)
			return
		}
		s := p.readSignin(r)
		f := r.Form
		step := f.Get("_step")
		if step != "" && (r.Method != http.MethodPost || !p.csrfValid(s, f.Get("_csrf"))) {
			step = ""
		}
		pg := page{CSRF: p.csrfToken(s), Action: p.cfg.Issuer + "/auth/launcher", Params: url.Values{}}
		render := func(name string) {
			p.writeSignin(w, s)
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			pg.writeStatus(w)
			if err := pages.ExecuteTemplate(w, name, pg); err != nil {
				p.log.Error("launcher page", "err", err)
			}
		}
		user, ok, err := p.signedIn(r, &s, &step, &pg, render)
		if err != nil {
			p.log.Error("launcher sign-in", "err", err)
			http.Error(w, "the sign-in could not be checked", http.StatusInternalServerError)
			return
		}
		if !ok {
			return
		}
		if err := p.launcherStep(w, r, user, step, &pg, render); err != nil {
			p.log.Error("launcher", "err", err)
			http.Error(w, "the launcher failed", http.StatusInternalServerError)
		}
	})
}

func (p *Provider) launcherStep(w http.ResponseWriter, r *http.Request, user oauth.User, step string, pg *page, render func(string)) error {
	ctx, f := r.Context(), r.Form
	// The lists and checks of FHIR data show only the patients the user
	// may see; the server's own tables are read as usual.
	care := storage.WithCare(ctx, storage.CareOf(user.FHIRUser))
	if f.Get("_search") != "" {
		step = ""
	}
	if own, ok := strings.CutPrefix(user.FHIRUser, "Patient/"); ok {
		f.Set("patient", own) // a patient launches apps for their own record only
	}
	clients, err := p.db.LaunchableClients(ctx)
	if err != nil {
		return err
	}
	// The last form is answered with a redirect to the app's launch URL.
	action := "'self'"
	for _, c := range clients {
		if u, err := url.Parse(c.LaunchURL); err == nil {
			action += " " + origin(u)
		}
	}
	pageHeaders(w, action)
	client := slices.IndexFunc(clients, func(c oauth.Client) bool { return c.ID == f.Get("client") })
	var patient Choice
	if step != "" {
		if patient, err = p.dir.Patient(care, f.Get("patient")); err != nil || client < 0 {
			pg.Error, step = "Choose an app and a patient.", ""
		}
	}
	switch step {
	case "encounter":
		encounters, err := p.dir.Encounters(care, patient.ID, 100)
		if err != nil {
			return err
		}
		pg.Title, pg.Step, pg.Client, pg.Patient, pg.Choices = "Launch "+clients[client].ID, "encounter", clients[client].ID, patient.Label, encounters
		pg.Params.Set("client", clients[client].ID)
		pg.Params.Set("patient", patient.ID)
		render("launcher.html")
		return nil
	case "launch":
		encounter := f.Get("encounter")
		if encounter != "" {
			encounters, err := p.dir.Encounters(care, patient.ID, 100)
			if err != nil {
				return err
			}
			if !slices.ContainsFunc(encounters, func(c Choice) bool { return c.ID == encounter }) {
				encounter = ""
			}
		}
		banner := false // the launcher page itself shows who the patient is
		value, err := p.CreateLaunch(ctx, LaunchContext{Patient: patient.ID, Encounter: encounter, User: user.Username, NeedPatientBanner: &banner}, user.Username)
		if err != nil {
			return err
		}
		target := clients[client].LaunchURL
		sep := "?"
		if strings.Contains(target, "?") {
			sep = "&"
		}
		p.writeSignin(w, p.readSignin(r))
		http.Redirect(w, r, target+sep+url.Values{"iss": {p.cfg.FHIRBase}, "launch": {value}}.Encode(), http.StatusSeeOther)
		return nil
	}
	for _, c := range clients {
		pg.Apps = append(pg.Apps, Choice{ID: c.ID, Label: c.ID + " (" + c.LaunchURL + ")"})
	}
	pg.Query = strings.TrimSpace(f.Get("q"))
	if own, ok := strings.CutPrefix(user.FHIRUser, "Patient/"); ok {
		c, err := p.dir.Patient(care, own)
		if err != nil {
			return err
		}
		pg.Choices = []Choice{c}
	} else if pg.Choices, err = p.dir.Patients(care, pg.Query, 50); err != nil {
		return err
	}
	pg.Title = "Launch an app"
	render("launcher.html")
	return nil
}
