package operations

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Base is where this server's own OperationDefinitions are named: an
// operation's canonical is Base + its ID, and it is served at
// [base]/OperationDefinition/[ID].
const Base = "http://fhirserver.dev/fhir/OperationDefinition/"

// URL is the canonical of the operation's definition: the guide's for a
// published one, the specification's for one it defines, else this
// server's own.
func (o *Operation) URL() string {
	switch {
	case o.Published != nil:
		var def struct{ URL string }
		if err := json.Unmarshal(o.Published, &def); err != nil {
			panic(fmt.Sprintf("$%s: its published definition: %v", o.Code, err)) // compiled in, and served by a test
		}
		return def.URL
	case o.Canonical != "":
		return o.Canonical
	}
	return Base + o.ID()
}

// Entry is the operation in the CapabilityStatement: a guide's operation
// with how this server answers it.
func (o *Operation) Entry() map[string]string {
	e := map[string]string{"name": o.Code, "definition": o.URL()}
	if o.Published != nil {
		e["documentation"] = o.Doc
	}
	return e
}

// Definition is the OperationDefinition served at
// [base]/OperationDefinition/[ID]: a guide's as published, under the id
// it has here; the others rendered from the declaration.
func (o *Operation) Definition() ([]byte, error) {
	if o.Published != nil {
		var def map[string]any
		if err := json.Unmarshal(o.Published, &def); err != nil {
			return nil, err
		}
		def["id"] = o.ID()
		return json.Marshal(def)
	}
	resource := o.Types
	if o.Types == nil && o.Levels&(Type|Instance) != 0 {
		resource = []string{"Resource"}
	}
	def := map[string]any{"resourceType": "OperationDefinition", "id": o.ID(), "url": o.URL(),
		"name": pascal(o.ID()), "status": "active", "kind": "operation",
		"code": o.Code, "description": o.Doc, "system": o.Levels&System != 0, "type": o.Levels&Type != 0,
		"instance": o.Levels&Instance != 0, "affectsState": o.AffectsState, "parameter": renderParams(o.Params)}
	if len(resource) > 0 {
		def["resource"] = resource
	}
	if o.Who != "" {
		def["comment"] = "Who may call it: " + o.Who
	}
	return json.Marshal(def)
}

func renderParams(ps []Param) []map[string]any {
	var out []map[string]any
	for _, p := range ps {
		param := map[string]any{"name": p.Name, "use": p.Use, "min": json.Number(p.Min), "max": p.Max}
		if p.Type != "" {
			param["type"] = p.Type
		}
		if p.Doc != "" {
			param["documentation"] = p.Doc
		}
		if p.Type == "" {
			param["part"] = renderParams(p.Parts)
		}
		out = append(out, param)
	}
	return out
}

// pascal makes a computable name of an id: Patient-break-glass is
// PatientBreakGlass.
func pascal(id string) string {
	var b strings.Builder
	for _, w := range strings.Split(id, "-") {
		if w != "" {
			b.WriteString(strings.ToUpper(w[:1]) + w[1:])
		}
	}
	return b.String()
}
