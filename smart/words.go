package smart

import (
	"strings"

	"github.com/ory/fosite"
)

// scopeChoice is a requested scope as the consent page shows it, with the
// category sub-scopes a user may grant instead of the whole type.
type scopeChoice struct {
	Scope      string
	Words      string
	Categories []scopeChoice
}

// Systems of the category codes below.
const (
	obsCategory    = "http://terminology.hl7.org/CodeSystem/observation-category"
	condCategory   = "http://terminology.hl7.org/CodeSystem/condition-category"
	usCoreCategory = "http://hl7.org/fhir/us/core/CodeSystem/us-core-category"
	loinc          = "http://loinc.org"
)

// categories are the granular sub-scopes offered per type: every category
// scope that US Core 6.1.0 (Future of US Core, the profiles' Quick Starts),
// 7.0.0 and 8.0.0 (SMART Scopes page, Quick Starts) name, systems corrected
// where those lists misspell them. 6.1.0's Observation "clinical-test" is no
// code ("procedure" is US Core's clinical test category), and its
// ServiceRequest "surgical-procedure" is the SNOMED CT concept 387713003.
var categories = map[string][]struct{ system, code, words string }{
	"Observation": {
		{obsCategory, "laboratory", "laboratory results"},
		{obsCategory, "vital-signs", "vital signs"},
		{obsCategory, "social-history", "social history"},
		{obsCategory, "survey", "surveys"},
		{obsCategory, "imaging", "imaging results"},
		{obsCategory, "procedure", "clinical test results"},
		{usCoreCategory, "sdoh", "social determinants of health"},
		{usCoreCategory, "care-experience-preference", "care experience preferences"},
		{usCoreCategory, "treatment-intervention-preference", "treatment intervention preferences"},
	},
	"Condition": {
		{condCategory, "problem-list-item", "the problem list"},
		{condCategory, "encounter-diagnosis", "encounter diagnoses"},
		{"http://hl7.org/fhir/us/core/CodeSystem/condition-category", "health-concern", "health concerns"},
	},
	"DiagnosticReport": {
		{"http://terminology.hl7.org/CodeSystem/v2-0074", "LAB", "laboratory reports"},
		{loinc, "LP29684-5", "radiology reports"},
		{loinc, "LP29708-2", "cardiology reports"},
		{loinc, "LP7839-6", "pathology reports"},
	},
	"DocumentReference": {
		{"http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category", "clinical-note", "clinical notes"},
	},
	"ServiceRequest": {
		{usCoreCategory, "sdoh", "social determinants of health"},
		{usCoreCategory, "functional-status", "functional status"},
		{"http://snomed.info/sct", "387713003", "surgical procedures"},
	},
}

// usCoreTypes are the resource types of US Core 8.0.0's server
// CapabilityStatement, the newest held (the earlier versions' are a subset).
var usCoreTypes = []string{
	"AllergyIntolerance", "CarePlan", "CareTeam", "Condition", "Coverage", "Device", "DiagnosticReport",
	"DocumentReference", "Encounter", "Endpoint", "Goal", "HealthcareService", "Immunization", "Location",
	"Media", "Medication", "MedicationDispense", "MedicationRequest", "Observation", "Organization", "Patient",
	"Practitioner", "PractitionerRole", "Procedure", "Provenance", "Questionnaire", "QuestionnaireResponse",
	"RelatedPerson", "ServiceRequest", "Specimen", "ValueSet",
}

// usCoreScopes are the scopes US Core 7.0.0 and 8.0.0 require a server to
// list in scopes_supported: a patient-level read and search scope per US
// Core type, and each category sub-scope above.
func usCoreScopes() []string {
	var out []string
	for _, t := range usCoreTypes {
		out = append(out, "patient/"+t+".rs")
		for _, c := range categories[t] {
			out = append(out, "patient/"+t+".rs?category="+c.system+"|"+c.code)
		}
	}
	return out
}

var otherWords = map[string]string{
	"openid":           "Know who you are",
	"fhirUser":         "Know who you are in the health record",
	"profile":          "Know who you are",
	"launch":           "Open with the record you are working in",
	"launch/patient":   "Know which patient's record is open",
	"launch/encounter": "Know which encounter is open",
	"offline_access":   "Stay connected after you close the app",
	"online_access":    "Stay connected while you are signed in",
	"admin":            "Change the server's role permissions",
}

var permWords = map[rune]string{'c': "create", 'r': "read", 'u': "update", 'd': "delete", 's': "search"}

func describeScopes(requested fosite.Arguments) []scopeChoice {
	out := make([]scopeChoice, 0, len(requested))
	for _, s := range requested {
		c := scopeChoice{Scope: s, Words: describe(s)}
		if sc, ok := ParseScope(s); ok && sc.Query == "" && strings.ContainsAny(sc.Perms, "rs") {
			for _, cat := range categories[sc.Type] {
				g := sc.Context + "/" + sc.Type + "." + readPerms(sc.Perms) + "?category=" + cat.system + "|" + cat.code
				c.Categories = append(c.Categories, scopeChoice{Scope: g, Words: cat.words})
			}
		}
		out = append(out, c)
	}
	return out
}

// readPerms keeps the read and search letters: what a category narrows.
func readPerms(perms string) string {
	var b strings.Builder
	for _, p := range perms {
		if p == 'r' || p == 's' {
			b.WriteRune(p)
		}
	}
	return b.String()
}

func describe(s string) string {
	if w, ok := otherWords[s]; ok {
		return w
	}
	sc, ok := ParseScope(s)
	if !ok {
		return s
	}
	var verbs []string
	for _, p := range sc.Perms {
		verbs = append(verbs, permWords[p])
	}
	what := sc.Type + " records"
	if sc.Type == "*" {
		what = "all kinds of records"
	}
	whose := map[string]string{"patient": "of this patient", "user": "you can see", "system": "on this server"}[sc.Context]
	words := strings.ToUpper(verbs[0][:1]) + verbs[0][1:]
	if len(verbs) > 1 {
		words += ", " + strings.Join(verbs[1:len(verbs)-1], ", ")
		words = strings.TrimSuffix(words, ", ") + " and " + verbs[len(verbs)-1]
	}
	words += " " + what + " " + whose
	if sc.Query != "" {
		words += " (only " + sc.Query + ")"
	}
	return words
}
