package fhirserver_test

import (
	"encoding/json"
	"path"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Every operation the CapabilityStatement claims, at system level and on
// each type, resolves to its OperationDefinition on this server: code,
// resource and levels as claimed and as routed; each definition is a
// valid OperationDefinition.
func TestEveryClaimedOperationResolves(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	r := ts.do("GET", "/metadata", "", "")
	require.Equal(t, 200, r.Status)
	var cs struct {
		Rest []struct {
			Operation []struct{ Name, Definition string }
			Resource  []struct {
				Type      string
				Operation []struct{ Name, Definition string }
			}
		}
	}
	require.NoError(t, json.Unmarshal(r.Body, &cs))
	require.Len(t, cs.Rest, 1)

	// The levels each operation is routed at, by type ("*": every type;
	// "": system level).
	routed := map[string]map[string]map[string]bool{}
	for _, rt := range ts.app.Routes() {
		p, ok := strings.CutPrefix(rt.Path, "/fhir/")
		if !ok || !strings.Contains(p, "$") {
			continue
		}
		segs := strings.Split(p, "/")
		name := strings.TrimPrefix(segs[len(segs)-1], "$")
		typ, level := "", "system"
		switch len(segs) {
		case 2:
			typ, level = segs[0], "type"
		case 3:
			typ, level = segs[0], "instance"
		}
		if typ == ":type" {
			typ = "*"
		}
		if routed[name] == nil {
			routed[name] = map[string]map[string]bool{}
		}
		if routed[name][typ] == nil {
			routed[name][typ] = map[string]bool{}
		}
		routed[name][typ][level] = true
	}

	type claim struct{ typ, name, definition string }
	var claims []claim
	for _, o := range cs.Rest[0].Operation {
		claims = append(claims, claim{"", o.Name, o.Definition})
	}
	for _, res := range cs.Rest[0].Resource {
		for _, o := range res.Operation {
			claims = append(claims, claim{res.Type, o.Name, o.Definition})
		}
	}
	seen := map[string]bool{}
	for _, c := range claims {
		require.NotEmpty(t, c.definition, "%s $%s", c.typ, c.name)
		// Served under the canonical's last segment, or for a guide's
		// published definition under [type]-[code].
		got := ts.do("GET", "/OperationDefinition/"+path.Base(c.definition), "", "")
		if got.Status == 404 && c.typ != "" {
			got = ts.do("GET", "/OperationDefinition/"+c.typ+"-"+c.name, "", "")
		}
		require.Equal(t, 200, got.Status, "%s $%s: %s: %s", c.typ, c.name, c.definition, got.Body)
		var def struct {
			ResourceType, URL, Code string
			Resource                []string
			System, Type, Instance  bool
		}
		require.NoError(t, json.Unmarshal(got.Body, &def))
		assert.Equal(t, "OperationDefinition", def.ResourceType)
		assert.Equal(t, c.definition, def.URL, "%s $%s", c.typ, c.name)
		assert.Equal(t, c.name, def.Code, c.definition)
		levels := routed[c.name][c.typ]
		if c.typ == "" {
			assert.True(t, def.System, "%s is claimed at system level", c.definition)
			levels = routed[c.name][""]
		} else {
			assert.True(t, slices.Contains(def.Resource, c.typ) || slices.Contains(def.Resource, "Resource"), "%s on %s: resource %v", c.definition, c.typ, def.Resource)
			if levels == nil {
				levels = routed[c.name]["*"]
			}
		}
		require.NotNil(t, levels, "%s $%s is claimed but not routed", c.typ, c.name)
		assert.Equal(t, map[string]bool{"system": def.System, "type": def.Type, "instance": def.Instance},
			map[string]bool{"system": levels["system"], "type": levels["type"], "instance": levels["instance"]}, "%s $%s: the definition's levels are the routes'", c.typ, c.name)
		if !seen[c.name] {
			v := ts.do("POST", "/OperationDefinition/$validate", fhirJSON, string(got.Body))
			assert.Equal(t, `{"resourceType":"OperationOutcome","issue":[{"severity":"information","code":"informational","diagnostics":"the resource is valid"}]}`, string(v.Body), c.definition)
		}
		seen[c.name] = true
	}
	for name := range routed {
		assert.True(t, seen[name], "$%s is routed but not claimed", name)
	}
	assert.Greater(t, len(seen), 20)
}
