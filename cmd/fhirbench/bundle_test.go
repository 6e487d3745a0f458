package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRewriteGivesFreshConsistentIDs(t *testing.T) {
	tests := []struct {
		name        string
		bundle      string
		oldIDs      []string // must not survive as resource id or fullUrl uuid
		oldRefs     []string // must not survive as a reference
		keptRefs    []string // conditional or external: must survive unchanged
		keptText    []string // verbatim content that must not be re-encoded
		wantPutURLs int
	}{
		{
			name:    "urn:uuid fullUrls",
			bundle:  uuidBundle,
			oldIDs:  []string{"11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222", "33333333-3333-4333-8333-333333333333"},
			oldRefs: []string{"urn:uuid:11111111-1111-4111-8111-111111111111", "urn:uuid:22222222-2222-4222-8222-222222222222"},
			keptRefs: []string{
				"Practitioner?identifier=http://hl7.org/fhir/sid/us-npi|9999994392",
				"Organization?identifier=https://github.com/synthetichealth/synthea|7c8d1a02",
			},
			keptText: []string{`"value":1.50`, `<div xmlns=\"http://www.w3.org/1999/xhtml\">seen &amp; done</div>`},
		},
		{
			name:        "PUT Type/id",
			bundle:      putBundle,
			oldIDs:      []string{"85", "c1", "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa", "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb"},
			oldRefs:     []string{"Patient/85", "Condition/c1", "urn:uuid:aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa"},
			keptRefs:    []string{"Patient/850", "Organization?identifier=https://github.com/synthetichealth/synthea|7c8d1a02"},
			wantPutURLs: 2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "b.json")
			require.NoError(t, os.WriteFile(path, []byte(tt.bundle), 0o644))
			f, skip, err := readFixture(path)
			require.NoError(t, err)
			require.Empty(t, skip)

			var copies []parsedBundle
			for range 2 {
				out, err := f.rewrite(newUUID)
				require.NoError(t, err)
				for _, s := range tt.keptText {
					assert.Contains(t, string(out), s)
				}
				b := parseBundle(t, out)
				checkCopy(t, b, tt.oldIDs, tt.oldRefs, tt.keptRefs, tt.wantPutURLs)
				copies = append(copies, b)
			}
			for _, id := range copies[0].ids() {
				assert.NotContains(t, copies[1].ids(), id, "two copies share an id")
			}
		})
	}
}

// checkCopy asserts that one rewritten copy has only new ids, that every
// reference it defines points into the bundle, and that others are unchanged.
func checkCopy(t *testing.T, b parsedBundle, oldIDs, oldRefs, keptRefs []string, wantPutURLs int) {
	t.Helper()
	for _, id := range b.ids() {
		assert.NotContains(t, oldIDs, id)
	}
	inBundle := b.identities()
	refs := b.allReferences()
	for _, ref := range refs {
		assert.NotContains(t, oldRefs, ref)
		if !slices.Contains(keptRefs, ref) {
			assert.True(t, inBundle[ref], "reference %s points to no entry", ref)
		}
	}
	for _, ref := range keptRefs {
		assert.Contains(t, refs, ref)
	}
	puts := 0
	for _, e := range b.Entry {
		if e.Request.Method == "PUT" {
			puts++
			assert.Equal(t, e.Resource["resourceType"].(string)+"/"+e.Resource["id"].(string), e.Request.URL)
		}
		if strings.HasPrefix(e.FullURL, "http") {
			assert.True(t, strings.HasSuffix(e.FullURL, "/"+e.Request.URL), "fullUrl %s not moved with %s", e.FullURL, e.Request.URL)
		}
	}
	assert.Equal(t, wantPutURLs, puts)
}

// TestRewriteRealFixtures runs the rewrite over published bundles of each style.
func TestRewriteRealFixtures(t *testing.T) {
	for _, rel := range []string{
		"us-core/uscore_bundle_patient_85.json",
		"inferno-seed-more/dtr_bundle_patient_pat015.json",
		"synthea-blaze/8a4c9c04-1524-9f1c-d65b-9b17e4520fef.json",
	} {
		t.Run(filepath.Base(rel), func(t *testing.T) {
			f, skip, err := readFixture(sharedFixture(t, rel))
			require.NoError(t, err)
			require.Empty(t, skip)
			out, err := f.rewrite(newUUID)
			require.NoError(t, err)
			b := parseBundle(t, out)
			require.Len(t, b.Entry, len(f.entries))

			old := map[string]bool{}
			for _, e := range f.entries {
				old["urn:uuid:"+e.uuid], old[e.localKey] = e.uuid != "", e.localKey != ""
			}
			inBundle := b.identities()
			for _, ref := range b.allReferences() {
				assert.False(t, old[ref], "old reference %s left", ref)
				if strings.HasPrefix(ref, "urn:uuid:") {
					assert.True(t, inBundle[ref], "reference %s points to no entry", ref)
				}
			}
			for i, e := range b.Entry {
				if f.entries[i].localKey != "" {
					assert.False(t, old[e.Request.URL], "old request url %s left", e.Request.URL)
				}
			}
		})
	}
}

func TestLoadFixturesSkipsNonBundles(t *testing.T) {
	var log strings.Builder
	fx, err := loadFixtures([]string{writeFixtures(t)}, &log)
	require.NoError(t, err)
	var names []string
	for _, f := range fx {
		names = append(names, filepath.Base(f.path))
	}
	assert.Equal(t, []string{"0-providers.json", "p-put.json", "p-uuid.json"}, names)
	assert.True(t, fx[0].provider)
	assert.Contains(t, log.String(), "group.json: a single Group")

	plan, err := prepareIngest(fx, 1, 3)
	require.NoError(t, err)
	assert.Len(t, plan.providers, 1)
	assert.Len(t, plan.warmup, 2)
	assert.Len(t, plan.bundles, 6)
	assert.Equal(t, []byte(providerBundle), plan.providers[0].body, "provider bundles are posted unchanged")
}

func TestTypeID(t *testing.T) {
	tests := []struct {
		location, want string
		ok             bool
	}{
		{"Patient/abc/_history/1", "Patient/abc", true},
		{"Patient/abc", "Patient/abc", true},
		{"http://127.0.0.1:8080/fhir/Observation/x-1.2/_history/3", "Observation/x-1.2", true},
		{"https://h/fhir/Encounter/e1?_format=json", "Encounter/e1", true},
		{"", "", false},
		{"Patient", "", false},
		{"urn:uuid:1234", "", false},
	}
	for _, tt := range tests {
		got, ok := typeID(tt.location)
		assert.Equal(t, tt.ok, ok, tt.location)
		if tt.ok {
			assert.Equal(t, tt.want, got, tt.location)
		}
	}
}
