package fhirserver_test

import (
	"crypto/sha256"
	"encoding/base64"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// varied is n characters of text that does not compress: a btree row of
// a few kilobytes of it does not fit a page, as repetitive text would.
func varied(seed string, n int) string {
	var out []byte
	sum := sha256.Sum256([]byte(seed))
	for len(out) < n {
		out = append(out, base64.RawURLEncoding.EncodeToString(sum[:])...)
		sum = sha256.Sum256(sum[:])
	}
	return string(out[:n])
}

// Values of several kilobytes in searchable elements are stored, and
// found by exact search, by prefix and by :contains.
func TestLongSearchValues(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	family := "Zed" + varied("family", 4000)
	ident := varied("identifier", 4000)
	code := varied("code", 4000)
	uri := "http://example.org/" + varied("uri", 4000)
	ref := "http://example.org/fhir/Patient/" + varied("ref", 4000)
	ts.put("Patient", "long", `{"resourceType":"Patient","name":[{"family":"`+family+`"}],"identifier":[{"system":"urn:x","value":"`+ident+`"}]}`)
	ts.put("Patient", "other", `{"resourceType":"Patient","name":[{"family":"`+family[:3000]+`"}],"identifier":[{"system":"urn:x","value":"`+ident[:3000]+`"}]}`)
	ts.put("Observation", "o", `{"resourceType":"Observation","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"`+code+`"}]},
		"subject":{"reference":"`+ref+`"}}`)
	ts.put("ValueSet", "vs", `{"resourceType":"ValueSet","status":"active","url":"`+uri+`"}`)
	system := "http://example.org/" + varied("system", 4000)
	ts.put("Observation", "s", `{"resourceType":"Observation","status":"final","code":{"coding":[{"system":"`+system+`","code":"c1"}]}}`)
	r := ts.do("POST", "", fhirJSON, `{"resourceType":"Bundle","type":"transaction","entry":[{"request":{"method":"POST","url":"Patient"},
		"resource":{"resourceType":"Patient","name":[{"family":"`+family[:3500]+`"}]}}]}`)
	require.Equal(t, 200, r.Status, "a transaction stores one too: %s", r.Body)
	q := url.QueryEscape
	tests := []struct {
		name, path string
		want       []string
	}{
		{"short prefix", "/Patient?family=zed&_id=long,other", []string{"long", "other"}},
		{"prefix longer than the index holds", "/Patient?family=" + q(family[:2000]) + "&_id=long,other", []string{"long", "other"}},
		{"whole value", "/Patient?family=" + q(family) + "&_id=long,other", []string{"long"}},
		{"past the end", "/Patient?family=" + q(family+"x"), []string{}},
		{"exact", "/Patient?family:exact=" + q(family), []string{"long"}},
		{"exact, case matters", "/Patient?family:exact=" + q("zed"+family[3:]), []string{}},
		{"contains, past the indexed bytes", "/Patient?family:contains=" + q(family[3500:3600]), []string{"long"}},
		{"contains, at the start", "/Patient?family:contains=" + q(family[1:20]) + "&_id=long,other", []string{"long", "other"}},
		{"identifier with system", "/Patient?identifier=" + q("urn:x|"+ident), []string{"long"}},
		{"identifier alone", "/Patient?identifier=" + q(ident), []string{"long"}},
		{"identifier sharing the first bytes", "/Patient?identifier=" + q(ident[:3000]), []string{"other"}},
		{"identifier, another", "/Patient?identifier=" + q(ident[:3999]), []string{}},
		{"code", "/Observation?code=" + q("http://loinc.org|"+code), []string{"o"}},
		{"code alone", "/Observation?code=" + q(code), []string{"o"}},
		{"absolute reference", "/Observation?subject=" + q(ref), []string{"o"}},
		{"long system", "/Observation?code=" + q(system+"|c1"), []string{"s"}},
		{"long system alone", "/Observation?code=" + q(system+"|"), []string{"s"}},
		{"long system sharing the first bytes", "/Observation?code=" + q(system[:3999]+"|c1"), []string{}},
		{"uri", "/ValueSet?url=" + q(uri), []string{"vs"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, ts.ids(tc.path))
		})
	}
}
