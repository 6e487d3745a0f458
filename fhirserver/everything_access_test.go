package fhirserver_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// $everything holds each type to what a search of that type by the token
// would return: a clinician who reads patients at user level but
// Observations only through patient/ scopes gets no Observation of
// another patient they also care for, whichever patient is in context;
// and a type narrowed to a category gets that category alone.
func TestEverythingHeldToEachTypesLimit(t *testing.T) {
	t.Parallel()
	ts := launchServer(t)
	// dr1 cares for p2 as well.
	ts.put("Encounter", "e2", `{"resourceType":"Encounter","status":"in-progress","class":{"code":"AMB"},"subject":{"reference":"Patient/p2"},
		"participant":[{"individual":{"reference":"Practitioner/dr1"}}]}`)
	ts.put("Observation", "lab2", `{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"Patient/p2"},
		"category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"laboratory"}]}]}`)
	scope := "user/Patient.rs patient/Observation.rs"

	onP1 := launchToken(t, ts, "launch/patient "+scope, nil, nil)
	require.Equal(t, "p1", onP1["patient"])
	tok := onP1["access_token"].(string)
	assert.Empty(t, entryKeys(t, fhirGet(ts, tok, "/Observation?subject=Patient/p2")), "a search finds none of p2's")
	assert.Equal(t, 403, fhirGet(ts, tok, "/Observation/o2").Status)
	assert.Equal(t, 200, fhirGet(ts, tok, "/Patient/p2").Status, "p2 is read at user level")
	assert.Equal(t, []string{"Patient/p2"}, everythingKeys(t, ts, tok, "/Patient/p2/$everything"))
	assert.Equal(t, []string{"Observation/o1", "Patient/p1"}, everythingKeys(t, ts, tok, "/Patient/p1/$everything"))
	all := everythingKeys(t, ts, tok, "/Patient/$everything")
	assert.Contains(t, all, "Observation/o1")
	assert.NotContains(t, all, "Observation/o2")
	assert.NotContains(t, all, "Observation/lab2")

	// The mirror: launched on p2, p1's Observations are out.
	root := strings.TrimSuffix(ts.URL, "/fhir")
	req, err := http.NewRequest("POST", root+"/auth/launch", strings.NewReader(`{"patient":"p2"}`))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+ts.token)
	status, launch, _ := ts.post(req)
	require.Equal(t, 200, status, "%v", launch)
	onP2 := launchToken(t, ts, "launch "+scope, map[string]string{"launch": launch["launch"].(string)}, nil)
	require.Equal(t, "p2", onP2["patient"])
	tok = onP2["access_token"].(string)
	assert.Equal(t, 403, fhirGet(ts, tok, "/Observation/o1").Status)
	assert.Equal(t, []string{"Patient/p1"}, everythingKeys(t, ts, tok, "/Patient/p1/$everything"))
	assert.Equal(t, []string{"Observation/lab2", "Observation/o2", "Patient/p2"}, everythingKeys(t, ts, tok, "/Patient/p2/$everything"))

	// A type narrowed to a category: that category, as a search gives it.
	narrowed := ts.tokenFor("system/Patient.rs system/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory")
	assert.Equal(t, []string{"Observation/lab2"}, entryKeys(t, fhirGet(ts, narrowed, "/Observation?subject=Patient/p2")))
	assert.Equal(t, []string{"Observation/lab2", "Patient/p2"}, everythingKeys(t, ts, narrowed, "/Patient/p2/$everything"))
}

func everythingKeys(t *testing.T, ts *testServer, token, path string) []string {
	t.Helper()
	saved := ts.token
	defer func() { ts.token = saved }()
	ts.token = token
	return ts.keysOf(path)
}
