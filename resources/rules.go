package resources

import (
	"context"

	"github.com/fhirserver/fhirserver/storage"
)

// TypeRules is the behaviour particular to one resource type: the write
// path consults it for every version it appends, whichever interaction,
// Bundle entry or operation writes it. A type without rules is written as
// the specification alone says.
type TypeRules struct {
	// Check runs inside the write's transaction before the version is
	// queued (obj nil: a delete); an error refuses the write. It may write
	// beside the version (the slots an Appointment books).
	Check func(w *work, ctx context.Context, k storage.Key, obj map[string]any) error
	// Sealed are the elements encrypted whole at rest.
	Sealed []string
	// BlindStrings are the string search parameters indexed blind, so that
	// the index holds nothing of the encrypted elements they come from.
	BlindStrings []string
	// Sensitive, when set, are the codes that make a resource of the type
	// sensitive: its coded element is then encrypted whole and its codes
	// indexed blind.
	Sensitive *storage.SensitiveCodes
}

// SSNSystem is the identifier system whose values are encrypted at rest,
// in any resource, and indexed blind.
const SSNSystem = "http://hl7.org/fhir/sid/us-ssn"

// addressParams are the parameters an address yields.
var addressParams = []string{"address", "address-city", "address-country", "address-postalcode", "address-state"}

// person is the rule of the resources that are people: their addresses
// are encrypted.
var person = TypeRules{Sealed: []string{"address"}, BlindStrings: addressParams}

// typeRules are the rules of every type that has some; "*" applies to
// every type as well as its own. (Set in init: a rule's check writes
// through the path that consults the rules.)
var typeRules map[string]TypeRules

func init() {
	typeRules = map[string]TypeRules{
		"*":             {Sealed: []string{"note"}},
		"Appointment":   {Check: (*work).guardAppointment},
		"Slot":          {Check: (*work).guardSlot},
		"Task":          {Check: (*work).guardReviewTask},
		"Patient":       person,
		"Person":        person,
		"RelatedPerson": person,
		"Practitioner":  person,
		// Conditions of HIV, substance use and mental health (ICD-10-CM, SNOMED
		// CT codes) are encrypted: their code.
		"Condition": {Sensitive: &storage.SensitiveCodes{Param: "code", Element: "code", Codes: map[string]bool{
			"B20": true, "Z21": true, "86406008": true, "165816005": true, // HIV
			"F10.20": true, "F11.20": true, "F14.20": true, "66590003": true, "5602001": true, "7200002": true, // substance use
			"F20.9": true, "F31.9": true, "F32.9": true, "F33.9": true, "58214004": true, "13746004": true, "35489007": true, // mental health
		}}},
	}
}

// checkType runs the rule of k's type on a version about to be queued.
func (w *work) checkType(ctx context.Context, k storage.Key, obj map[string]any) error {
	if r := typeRules[k.Type]; r.Check != nil {
		return r.Check(w, ctx, k, obj)
	}
	return nil
}

// Protection is what the type rules encrypt at rest, as storage applies
// it.
func Protection() storage.Protection {
	p := storage.Protection{Identifier: SSNSystem, Sealed: map[string][]string{}, BlindStrings: map[string][]string{},
		Sensitive: map[string]storage.SensitiveCodes{}}
	for typ, r := range typeRules {
		if len(r.Sealed) > 0 {
			p.Sealed[typ] = r.Sealed
		}
		if len(r.BlindStrings) > 0 {
			p.BlindStrings[typ] = r.BlindStrings
		}
		if r.Sensitive != nil {
			p.Sensitive[typ] = *r.Sensitive
		}
	}
	return p
}
