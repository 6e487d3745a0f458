package fhirserver_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirserver/fhirserver/fhirserver"
	"github.com/fhirserver/fhirserver/smart"
)

// smartApp is the test app and its driver: the published SMART JavaScript
// client (fhirclient) in a page, Playwright driving Debian's Chromium.
const smartApp = "testdata/smartapp"

// browserReady says why the browser test cannot run here, if it cannot.
// `make test` installs what it needs (scripts/ensure-browser.sh) and sets
// FHIR_BROWSER_TEST=1, which turns a missing piece into a failure.
func browserReady() string {
	chromium := os.Getenv("CHROMIUM")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	if _, err := os.Stat(chromium); err != nil {
		return "Chromium is not installed (apt-get install chromium)"
	}
	if _, err := exec.LookPath("node"); err != nil {
		return "Node.js is not installed"
	}
	for _, m := range []string{"fhirclient/build/fhir-client.js", "playwright-core/package.json"} {
		if _, err := os.Stat(filepath.Join(smartApp, "node_modules", m)); err != nil {
			return "the app's npm packages are not installed (npm ci in " + smartApp + ")"
		}
	}
	return ""
}

// A real SMART app, the published fhirclient library in headless Chromium,
// served from another origin: a standalone launch (sign in, pick the
// patient, approve) and an EHR launch from the launcher, each reading the
// patient, searching its observations and refreshing its token.
func TestSMARTAppInChromium(t *testing.T) {
	if why := browserReady(); why != "" {
		if os.Getenv("FHIR_BROWSER_TEST") == "1" {
			t.Fatal(why)
		}
		t.Skip(why + "; make test installs it")
	}
	t.Parallel()
	// The server answers as localhost, the app as 127.0.0.1: two origins.
	ts := newServer(t, func(c *fhirserver.Config) { c.BaseURL = strings.Replace(c.BaseURL, "127.0.0.1", "localhost", 1) })
	files := http.NewServeMux()
	files.Handle("/", http.FileServer(http.Dir(smartApp)))
	files.HandleFunc("/fhir-client.js", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, filepath.Join(smartApp, "node_modules/fhirclient/build/fhir-client.js"))
	})
	app := httptest.NewServer(files)
	t.Cleanup(app.Close)

	ts.put("Practitioner", "dr1", `{"resourceType":"Practitioner","name":[{"family":"Welby"}]}`)
	ts.put("Patient", "p1", `{"resourceType":"Patient","name":[{"family":"Chalmers","given":["Peter"]}]}`)
	ts.put("Patient", "p2", `{"resourceType":"Patient","name":[{"family":"Other"}]}`)
	ts.put("Encounter", "e1", `{"resourceType":"Encounter","status":"in-progress","class":{"code":"AMB"},"subject":{"reference":"Patient/p1"},
		"participant":[{"individual":{"reference":"Practitioner/dr1"}}]}`)
	ts.put("Observation", "o1", `{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"Patient/p1"}}`)
	ts.put("Observation", "o2", `{"resourceType":"Observation","status":"final","code":{"text":"y"},"subject":{"reference":"Patient/p1"}}`)
	ts.put("Observation", "o3", `{"resourceType":"Observation","status":"final","code":{"text":"z"},"subject":{"reference":"Patient/p2"}}`)
	ctx := context.Background()
	_, err := ts.smart.RegisterClient(ctx, smart.Client{ID: "browser-app", Public: true,
		RedirectURIs: []string{app.URL + "/app.html"}, LaunchURL: app.URL + "/launch.html",
		Scopes: strings.Fields("launch launch/patient openid fhirUser offline_access patient/*.rs")})
	require.NoError(t, err)
	require.NoError(t, ts.smart.AddUser(ctx, smart.User{Username: "doc", Password: password, Role: "clinician", FHIRUser: "Practitioner/dr1"}))

	job, err := json.Marshal(map[string]any{
		"username": "doc", "password": password,
		"launches": []map[string]any{
			{"start": app.URL + "/launch.html?" + "iss=" + ts.URL + "&scope=" + "launch/patient%20openid%20fhirUser%20offline_access%20patient/*.rs",
				"pick": map[string]string{"patient": "p1"}},
			{"start": strings.TrimSuffix(ts.URL, "/fhir") + "/auth/launcher",
				"pick": map[string]string{"client": "browser-app", "patient": "p1", "encounter": "e1"}},
		},
	})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "drive.mjs", string(job))
	cmd.Dir = smartApp
	out, err := cmd.Output()
	var stderr string
	if ee, ok := err.(*exec.ExitError); ok {
		stderr = string(ee.Stderr)
	}
	require.NoError(t, err, "driver: %s\n%s", out, stderr)

	var results []map[string]any
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		var r map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &r), sc.Text())
		results = append(results, r)
	}
	require.Len(t, results, 2, "%s", out)
	for i, r := range results {
		require.Empty(t, r["error"], "launch %d: %v", i, r)
		assert.Equal(t, "p1", r["patient"], "launch %d", i)
		assert.Equal(t, "Chalmers", r["family"])
		assert.Equal(t, []any{"o1", "o2"}, r["observations"], "the patient's observations only")
		assert.Equal(t, true, r["refreshed"], "a new access token")
		assert.Equal(t, "p1", r["readAfterRefresh"])
		assert.True(t, strings.HasSuffix(r["fhirUser"].(string), "Practitioner/dr1"), "fhirUser from the id_token: %v", r["fhirUser"])
	}
	assert.Nil(t, results[0]["encounter"], "standalone without launch/encounter")
	assert.Equal(t, "e1", results[1]["encounter"], "the EHR's encounter")
}
