package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/fhirserver/fhirserver/fhirserver"
	"github.com/fhirserver/fhirserver/resources"
	"github.com/fhirserver/fhirserver/smart"
	"github.com/fhirserver/fhirserver/storage/oauth"
)

// adminProvider opens the database and the authorization server for an
// admin command; the URLs only name the realm, which admin commands do
// not use.
func adminProvider(ctx context.Context, d dbFlags, log *slog.Logger) (*smart.Provider, func(), error) {
	return openProvider(ctx, d, log, false)
}

// openProvider is adminProvider, reading the FHIR data when withData:
// launch create checks that its patient and encounter exist.
func openProvider(ctx context.Context, d dbFlags, log *slog.Logger, withData bool) (*smart.Provider, func(), error) {
	db, err := openDatabase(ctx, d, log)
	if err != nil {
		return nil, nil, err
	}
	provider, err := smart.New(ctx, smart.Config{Issuer: "http://localhost", FHIRBase: "http://localhost/fhir"}, oauth.New(db.store), log)
	if err != nil {
		db.close()
		return nil, nil, err
	}
	if withData {
		provider.SetDirectory(fhirserver.Directory(resources.New(db.store, log)))
	}
	return provider, db.close, nil
}

func usersAdd(ctx context.Context, args []string, out io.Writer, log *slog.Logger) error {
	fs := flag.NewFlagSet("users add", flag.ContinueOnError)
	var d dbFlags
	d.register(fs)
	var u smart.User
	fs.StringVar(&u.Username, "username", "", "the name to sign in with (required)")
	fs.StringVar(&u.Password, "password", os.Getenv("FHIR_USER_PASSWORD"), "the password, at least 8 characters (or FHIR_USER_PASSWORD)")
	fs.StringVar(&u.Role, "role", "", "the user's role, e.g. clinician or patient (required)")
	fs.StringVar(&u.FHIRUser, "fhir-user", "", "the user's own resource: Practitioner/ID, Patient/ID, RelatedPerson/ID, ...")
	if err := fs.Parse(args); err != nil {
		return usageError(err.Error())
	}
	if u.Username == "" || u.Password == "" || u.Role == "" {
		return usageError("users add: --username, --password and --role are required")
	}
	provider, done, err := adminProvider(ctx, d, log)
	if err != nil {
		return err
	}
	defer done()
	if err := provider.AddUser(ctx, u); err != nil {
		return err
	}
	fmt.Fprintf(out, "user %s registered\n", u.Username)
	return nil
}

func launchCreate(ctx context.Context, args []string, out io.Writer, log *slog.Logger) error {
	fs := flag.NewFlagSet("launch create", flag.ContinueOnError)
	var d dbFlags
	d.register(fs)
	var lc smart.LaunchContext
	var fhirContext string
	var noBanner bool
	fs.StringVar(&lc.Patient, "patient", "", "the Patient id in context")
	fs.StringVar(&lc.Encounter, "encounter", "", "the Encounter id in context")
	fs.StringVar(&lc.Intent, "intent", "", "the intent to pass to the app")
	fs.StringVar(&fhirContext, "fhir-context", "", `fhirContext as a JSON array, e.g. '[{"reference":"Appointment/a1"}]'`)
	fs.BoolVar(&noBanner, "no-patient-banner", false, "tell the app the EHR shows the patient banner itself")
	if err := fs.Parse(args); err != nil {
		return usageError(err.Error())
	}
	if fhirContext != "" {
		if err := json.Unmarshal([]byte(fhirContext), &lc.FHIRContext); err != nil {
			return usageError("launch create: --fhir-context must be a JSON array of objects")
		}
	}
	banner := !noBanner
	lc.NeedPatientBanner = &banner
	provider, done, err := openProvider(ctx, d, log, true)
	if err != nil {
		return err
	}
	defer done()
	value, err := provider.CreateLaunch(ctx, lc, "operator")
	if err != nil {
		return err
	}
	fmt.Fprintln(out, value)
	return nil
}

func keysRotate(ctx context.Context, args []string, out io.Writer, log *slog.Logger) error {
	fs := flag.NewFlagSet("keys rotate", flag.ContinueOnError)
	var d dbFlags
	d.register(fs)
	if err := fs.Parse(args); err != nil {
		return usageError(err.Error())
	}
	provider, done, err := adminProvider(ctx, d, log)
	if err != nil {
		return err
	}
	defer done()
	if err := provider.RotateSigningKey(ctx); err != nil {
		return err
	}
	fmt.Fprintln(out, "a new id_token signing key signs from now on; the old ones stay in the JWKS")
	return nil
}
