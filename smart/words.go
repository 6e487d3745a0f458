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

// categories are the granular sub-scopes offered per type (SMART 2.2
// 3.0.2.3, US Core 6.1.0's required category scopes).
var categories = map[string][]struct{ system, code, words string }{
	"Observation": {
		{"http://terminology.hl7.org/CodeSystem/observation-category", "laboratory", "laboratory results"},
		{"http://terminology.hl7.org/CodeSystem/observation-category", "vital-signs", "vital signs"},
		{"http://terminology.hl7.org/CodeSystem/observation-category", "social-history", "social history"},
		{"http://terminology.hl7.org/CodeSystem/observation-category", "survey", "surveys"},
		{"http://hl7.org/fhir/us/core/CodeSystem/us-core-category", "sdoh", "social determinants of health"},
	},
	"Condition": {
		{"http://terminology.hl7.org/CodeSystem/condition-category", "problem-list-item", "the problem list"},
		{"http://terminology.hl7.org/CodeSystem/condition-category", "encounter-diagnosis", "encounter diagnoses"},
		{"http://hl7.org/fhir/us/core/CodeSystem/condition-category", "health-concern", "health concerns"},
	},
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
