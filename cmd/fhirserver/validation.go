package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/fhirserver/fhirserver/profiles"
)

// validationFlags say how writes are held to the profiles they claim in
// meta.profile. Every write is held to the R4 definitions whatever they say.
type validationFlags struct {
	profileErrors string
	strict        bool
}

// register adds the flags; profileErrors is the default of
// --profile-errors: reject for the API, warn for a load, which imports
// records that already exist elsewhere and must not lose a patient's
// history over a must-support element.
func (v *validationFlags) register(fs *flag.FlagSet, profileErrors string) {
	fs.StringVar(&v.profileErrors, "profile-errors", envOr("FHIR_PROFILE_ERRORS", profileErrors),
		"what a write that breaks a profile it claims gets: reject (422) or warn (stored, with warnings) (env FHIR_PROFILE_ERRORS)")
	fs.BoolVar(&v.strict, "strict-profiles", os.Getenv("FHIR_STRICT_PROFILES") == "true",
		"refuse a write that claims a profile this server does not know (env FHIR_STRICT_PROFILES=true)")
}

func (v *validationFlags) options() (profiles.Options, error) {
	switch v.profileErrors {
	case "reject", "warn":
	default:
		return profiles.Options{}, usageError(fmt.Sprintf("--profile-errors must be reject or warn, not %q", v.profileErrors))
	}
	return profiles.Options{Strict: v.strict, Lenient: v.profileErrors == "warn"}, nil
}
