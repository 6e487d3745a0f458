package fhirserver_test

import (
	"fmt"
	"html"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// usCoreCategories are the category codes of the granular scopes that US
// Core's SMART scope lists (6.1.0, 7.0.0, 8.0.0) name, per type.
var usCoreCategories = map[string][]string{
	"Observation": {"http://terminology.hl7.org/CodeSystem/observation-category|laboratory", "http://terminology.hl7.org/CodeSystem/observation-category|vital-signs",
		"http://terminology.hl7.org/CodeSystem/observation-category|social-history", "http://terminology.hl7.org/CodeSystem/observation-category|survey",
		"http://terminology.hl7.org/CodeSystem/observation-category|imaging", "http://terminology.hl7.org/CodeSystem/observation-category|procedure",
		"http://hl7.org/fhir/us/core/CodeSystem/us-core-category|sdoh", "http://hl7.org/fhir/us/core/CodeSystem/us-core-category|care-experience-preference",
		"http://hl7.org/fhir/us/core/CodeSystem/us-core-category|treatment-intervention-preference"},
	"Condition": {"http://terminology.hl7.org/CodeSystem/condition-category|problem-list-item", "http://terminology.hl7.org/CodeSystem/condition-category|encounter-diagnosis",
		"http://hl7.org/fhir/us/core/CodeSystem/condition-category|health-concern"},
	"DiagnosticReport":  {"http://terminology.hl7.org/CodeSystem/v2-0074|LAB", "http://loinc.org|LP29684-5", "http://loinc.org|LP29708-2", "http://loinc.org|LP7839-6"},
	"DocumentReference": {"http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category|clinical-note"},
	"ServiceRequest": {"http://hl7.org/fhir/us/core/CodeSystem/us-core-category|sdoh", "http://hl7.org/fhir/us/core/CodeSystem/us-core-category|functional-status",
		"http://snomed.info/sct|387713003"},
}

// categorized is a resource of p1 of the type, with the category when one
// is given.
func categorized(typ, category string) string {
	body := map[string]string{
		"Observation":       `"status":"final","code":{"text":"x"}`,
		"Condition":         `"code":{"text":"x"}`,
		"DiagnosticReport":  `"status":"final","code":{"text":"x"}`,
		"DocumentReference": `"status":"current","content":[{"attachment":{"contentType":"text/plain","data":"eA=="}}]`,
		"ServiceRequest":    `"status":"active","intent":"order","code":{"text":"x"}`,
	}[typ]
	if system, code, ok := strings.Cut(category, "|"); ok {
		body += fmt.Sprintf(`,"category":[{"coding":[{"system":%q,"code":%q}]}]`, system, code)
	}
	return `{"resourceType":"` + typ + `","subject":{"reference":"Patient/p1"},` + body + `}`
}

// When an app asks for whole types, the consent page offers every US Core
// category sub-scope of each; the one chosen is exactly what the token
// grants, and it reaches that category's resources only.
func TestConsentOffersEveryUSCoreCategory(t *testing.T) {
	t.Parallel()
	ts := launchServer(t)
	var types []string
	for typ, cats := range usCoreCategories {
		types = append(types, "patient/"+typ+".rs")
		ts.put(typ, "none", categorized(typ, ""))
		for i, cat := range cats {
			ts.put(typ, fmt.Sprint("c", i), categorized(typ, cat))
		}
	}
	start := authorizeURL(ts, "launch/patient "+strings.Join(types, " "), nil)
	b := newBrowser(ts)
	p := b.get(start)
	p = b.submit(p, url.Values{"username": {"doc"}, "password": {password}})
	p = b.submit(p, nil) // the patient
	require.Contains(t, p.body, `value="consent"`, p.body)
	for typ, cats := range usCoreCategories {
		for i, cat := range cats {
			sub := "patient/" + typ + ".rs?category=" + cat
			assert.Contains(t, p.body, `name="grant" value="`+html.EscapeString(sub)+`"`, "offered: %s", sub)
			t.Run(sub, func(t *testing.T) { grantsOnlyCategory(t, ts, b, start, typ, sub, fmt.Sprint("c", i)) })
		}
	}
}

func grantsOnlyCategory(t *testing.T, ts *testServer, b *browser, start, typ, sub, id string) {
	back := b.launch(start, url.Values{"grant": {"launch/patient", sub}})
	status, tok, _ := exchange(ts, back.Query().Get("code"), appVerifier)
	require.Equal(t, 200, status, "%v", tok)
	assert.ElementsMatch(t, []string{"launch/patient", sub}, strings.Fields(tok["scope"].(string)))
	access := tok["access_token"].(string)
	assert.Equal(t, []string{typ + "/" + id}, entryKeys(t, fhirGet(ts, access, "/"+typ)))
	assert.Equal(t, 200, fhirGet(ts, access, "/"+typ+"/"+id).Status)
	assert.Equal(t, 403, fhirGet(ts, access, "/"+typ+"/none").Status, "a resource without the category")
}
