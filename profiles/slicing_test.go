package profiles

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// withProfiles opens a private copy of the definitions and adds
// StructureDefinitions to it: for slicing the shipped profiles do not use
// (none slices by profile or by exists).
func withProfiles(t *testing.T, sds ...string) *Definitions {
	t.Helper()
	d, err := openDefinitions(definitionsZip)
	require.NoError(t, err)
	for _, raw := range sds {
		sd := &StructureDefinition{}
		require.NoError(t, json.Unmarshal([]byte(raw), sd))
		e := &indexEntry{URL: sd.URL, ResourceType: "StructureDefinition", Type: sd.Type, Kind: sd.Kind, Derivation: sd.Derivation}
		e.sd.Store(sd)
		d.index[sd.URL] = []*indexEntry{e}
	}
	return d
}

const extMine = `{"resourceType":"StructureDefinition","url":"http://example.org/sd/ext-mine","type":"Extension","kind":"complex-type","derivation":"constraint",
 "snapshot":{"element":[
  {"id":"Extension","path":"Extension","min":0,"max":"*"},
  {"id":"Extension.url","path":"Extension.url","min":1,"max":"1","fixedUri":"http://example.org/ext/mine"},
  {"id":"Extension.value[x]","path":"Extension.value[x]","min":1,"max":"1","type":[{"code":"string"}]}]}}`

const obsSliced = `{"resourceType":"StructureDefinition","url":"http://example.org/sd/obs-sliced","type":"Observation","kind":"resource","derivation":"constraint",
 "snapshot":{"element":[
  {"id":"Observation","path":"Observation","min":0,"max":"*"},
  {"id":"Observation.extension","path":"Observation.extension","min":0,"max":"*","slicing":{"discriminator":[{"type":"profile","path":"$this"}],"rules":"closed"}},
  {"id":"Observation.extension:mine","path":"Observation.extension","sliceName":"mine","min":1,"max":"1","type":[{"code":"Extension","profile":["http://example.org/sd/ext-mine"]}]},
  {"id":"Observation.performer","path":"Observation.performer","min":0,"max":"*","slicing":{"discriminator":[{"type":"exists","path":"display"}],"rules":"closed"}},
  {"id":"Observation.performer:named","path":"Observation.performer","sliceName":"named","min":0,"max":"1","type":[{"code":"Reference"}]},
  {"id":"Observation.performer:named.display","path":"Observation.performer.display","min":1,"max":"1","type":[{"code":"string"}]}]}}`

// Slices told apart by profile (a value is in the slice when it conforms
// to the slice's profile) and by exists; closed slicing refuses the rest.
func TestSlicingByProfileAndExists(t *testing.T) {
	d := withProfiles(t, extMine, obsSliced)
	tests := []struct {
		name, body string
		want       []string
	}{
		{"conforms", `{"extension":[{"url":"http://example.org/ext/mine","valueString":"x"}],"performer":[{"display":"Dr X"}]}`, nil},
		{"extension of another profile", `{"extension":[{"url":"http://example.org/ext/other","valueString":"x"}]}`, []string{
			"Observation.extension: Observation.extension:mine: at least 1 required by the profile, 0 present",
			"Observation.extension[0]: Observation.extension: the value is in none of the slices the profile allows"}},
		{"right url, wrong value type", `{"extension":[{"url":"http://example.org/ext/mine","valueBoolean":true}]}`, []string{
			"Observation.extension: Observation.extension:mine: at least 1 required by the profile, 0 present",
			"Observation.extension[0]: Observation.extension: the value is in none of the slices the profile allows"}},
		{"two in a slice of one", `{"extension":[{"url":"http://example.org/ext/mine","valueString":"x"}],"performer":[{"display":"a"},{"display":"b"}]}`, []string{
			"Observation.performer: Observation.performer:named: at most 1 allowed by the profile, 2 present"}},
		{"none of the slices", `{"extension":[{"url":"http://example.org/ext/mine","valueString":"x"}],"performer":[{"reference":"Practitioner/p"}]}`, []string{
			"Observation.performer[0]: Observation.performer: the value is in none of the slices the profile allows"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var obj map[string]any
			root, err := decodeJSON([]byte(tc.body))
			require.NoError(t, err)
			obj = root.(map[string]any)
			obj["resourceType"], obj["status"], obj["code"] = "Observation", "final", map[string]any{"text": "x"}
			r := d.Validate(obj, Options{Profiles: []string{"http://example.org/sd/obs-sliced"}})
			require.Empty(t, r.Invalid)
			var got []string
			for _, is := range r.Unprocessable {
				got = append(got, is.Expression[0]+": "+strings.TrimPrefix(is.Diagnostics, "http://example.org/sd/obs-sliced: "))
			}
			assert.Equal(t, tc.want, got)
		})
	}
}
