package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// Small bundles in the two styles the fixtures use.
const (
	// Synthea style: POST entries with urn:uuid fullUrls and conditional
	// references to the provider bundle.
	uuidBundle = `{"resourceType":"Bundle","type":"transaction","entry":[
 {"fullUrl":"urn:uuid:11111111-1111-4111-8111-111111111111",
  "resource":{"resourceType":"Patient","id":"11111111-1111-4111-8111-111111111111","name":[{"family":"Doe"}],
   "generalPractitioner":[{"reference":"Practitioner?identifier=http://hl7.org/fhir/sid/us-npi|9999994392"}],
   "managingOrganization":{"reference":"Organization?identifier=https://github.com/synthetichealth/synthea|7c8d1a02"}},
  "request":{"method":"POST","url":"Patient"}},
 {"fullUrl":"urn:uuid:22222222-2222-4222-8222-222222222222",
  "resource":{"resourceType":"Encounter","id":"22222222-2222-4222-8222-222222222222",
   "text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">seen &amp; done</div>"},
   "subject":{"reference":"urn:uuid:11111111-1111-4111-8111-111111111111"}},
  "request":{"method":"POST","url":"Encounter"}},
 {"fullUrl":"urn:uuid:33333333-3333-4333-8333-333333333333",
  "resource":{"resourceType":"Observation","id":"33333333-3333-4333-8333-333333333333",
   "subject":{"reference":"urn:uuid:11111111-1111-4111-8111-111111111111"},
   "encounter":{"reference":"urn:uuid:22222222-2222-4222-8222-222222222222"},
   "valueQuantity":{"value":1.50,"unit":"mg"}},
  "request":{"method":"POST","url":"Observation"}}]}`

	// US Core style: PUT Type/id, references by Type/id, one absolute fullUrl,
	// and a reference to a resource outside the bundle (Patient/850).
	putBundle = `{"resourceType":"Bundle","type":"transaction","entry":[
 {"fullUrl":"urn:uuid:aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa",
  "resource":{"resourceType":"Patient","id":"85","link":[{"other":{"reference":"Patient/850"}}]},
  "request":{"method":"PUT","url":"Patient/85"}},
 {"fullUrl":"http://example.org/fhir/Condition/c1",
  "resource":{"resourceType":"Condition","id":"c1","subject":{"reference":"Patient/85"}},
  "request":{"method":"PUT","url":"Condition/c1"}},
 {"fullUrl":"urn:uuid:bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb",
  "resource":{"resourceType":"Observation","id":"bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb",
   "subject":{"reference":"Patient/85"},"focus":[{"reference":"urn:uuid:aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa"}],
   "hasMember":[{"reference":"Condition/c1"}],
   "performer":[{"reference":"Organization?identifier=https://github.com/synthetichealth/synthea|7c8d1a02"}]},
  "request":{"method":"POST","url":"Observation"}}]}`

	// Provider bundle: a batch with ifNoneExist, loaded once and unchanged.
	providerBundle = `{"resourceType":"Bundle","type":"batch","entry":[
 {"fullUrl":"urn:uuid:99999999-9999-4999-8999-999999999999",
  "resource":{"resourceType":"Organization","id":"99999999-9999-4999-8999-999999999999",
   "identifier":[{"system":"https://github.com/synthetichealth/synthea","value":"7c8d1a02"}]},
  "request":{"method":"POST","url":"Organization","ifNoneExist":"identifier=https://github.com/synthetichealth/synthea|7c8d1a02"}}]}`

	groupResource = `{"resourceType":"Group","id":"1a","type":"person","actual":true,"member":[{"entity":{"reference":"Patient/85"}}]}`
)

// writeFixtures puts the small bundles into a temporary fixtures directory.
func writeFixtures(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"0-providers.json": providerBundle, "p-uuid.json": uuidBundle,
		"p-put.json": putBundle, "group.json": groupResource, "notes.txt": "not json",
	}
	for name, body := range files {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644))
	}
	return dir
}

// sharedFixture returns a file of ../shared/fixtures, relative to the
// repository root found by walking up to go.mod, or skips the test.
func sharedFixture(t *testing.T, rel string) string {
	t.Helper()
	dir, err := os.Getwd()
	require.NoError(t, err)
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Skip("repository root (go.mod) not found")
		}
		dir = parent
	}
	path := filepath.Join(dir, "..", "shared", "fixtures", rel)
	if _, err := os.Stat(path); err != nil {
		t.Skipf("fixture %s not present", path)
	}
	return path
}

// parsedBundle is a rewritten bundle decoded for checking.
type parsedBundle struct {
	Entry []struct {
		FullURL  string         `json:"fullUrl"`
		Resource map[string]any `json:"resource"`
		Request  struct {
			Method string `json:"method"`
			URL    string `json:"url"`
		} `json:"request"`
	} `json:"entry"`
}

func parseBundle(t *testing.T, body []byte) parsedBundle {
	t.Helper()
	require.True(t, json.Valid(body), "rewritten bundle is not valid JSON")
	var b parsedBundle
	require.NoError(t, json.Unmarshal(body, &b))
	return b
}

// references returns every "reference" string anywhere in v.
func references(v any) []string {
	var out []string
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			if s, ok := val.(string); ok && k == "reference" {
				out = append(out, s)
			} else {
				out = append(out, references(val)...)
			}
		}
	case []any:
		for _, val := range x {
			out = append(out, references(val)...)
		}
	}
	return out
}

// identities returns what an entry can be referred to by: its fullUrl,
// and Type/id of its resource.
func (b parsedBundle) identities() map[string]bool {
	out := map[string]bool{}
	for _, e := range b.Entry {
		out[e.FullURL] = true
		if id, ok := e.Resource["id"].(string); ok {
			out[e.Resource["resourceType"].(string)+"/"+id] = true
		}
	}
	return out
}

// ids returns every resource id and urn:uuid fullUrl of the bundle.
func (b parsedBundle) ids() []string {
	var out []string
	for _, e := range b.Entry {
		if id, ok := e.Resource["id"].(string); ok {
			out = append(out, id)
		}
		if u, ok := strings.CutPrefix(e.FullURL, "urn:uuid:"); ok {
			out = append(out, u)
		}
	}
	return out
}

func (b parsedBundle) allReferences() []string {
	var out []string
	for _, e := range b.Entry {
		out = append(out, references(e.Resource)...)
	}
	return out
}
