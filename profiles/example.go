package profiles

import (
	"encoding/json"
	"slices"
	"strings"
)

// Example returns the smallest resource of type typ that its base
// definition accepts: every required element, with a value of its type
// (the first code of a required value set), and nothing else. Tests use it
// to exercise every resource type the way a client could.
func (d *Definitions) Example(typ, id string) map[string]any {
	sd := d.Base(typ)
	if sd == nil {
		return nil
	}
	obj := d.fill(sd.tree(), false)
	if extra, ok := exampleExtras[typ]; ok {
		var members map[string]any
		if err := json.Unmarshal([]byte(extra), &members); err != nil {
			panic(err) // the table below
		}
		for k, v := range members {
			obj[k] = v
		}
	}
	obj["resourceType"] = typ
	obj["id"] = id
	return obj
}

// exampleExtras are what the types whose invariants ask for more than
// their required elements need besides them (ait-1, app-1, org-1, ...).
var exampleExtras = map[string]string{
	"AllergyIntolerance":         `{"clinicalStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical","code":"active"}]}}`,
	"Appointment":                `{"status":"proposed","participant":[{"actor":{"display":"x"},"status":"accepted"}]}`,
	"AppointmentResponse":        `{"actor":{"display":"x"}}`,
	"CapabilityStatement":        `{"kind":"instance","implementation":{"description":"x"},"rest":[{"mode":"server"}]}`,
	"Consent":                    `{"policyRule":{"text":"x"}}`,
	"EventDefinition":            `{"trigger":[{"type":"named-event","name":"x"}]}`,
	"ImmunizationRecommendation": `{"recommendation":[{"vaccineCode":[{"text":"x"}],"forecastStatus":{"text":"x"}}]}`,
	"InsurancePlan":              `{"name":"x"}`,
	"Linkage":                    `{"item":[{"type":"source","resource":{"display":"x"}},{"type":"alternate","resource":{"display":"y"}}]}`,
	"Organization":               `{"name":"x"}`,
	"StructureDefinition":        `{"kind":"logical","type":"x","differential":{"element":[{"id":"x","path":"x"}]}}`,
	"TerminologyCapabilities":    `{"kind":"instance","implementation":{"description":"x"}}`,
}

// fill makes an object with the required children of e, or, when none is
// required, its first own child, since an element must not be empty.
func (d *Definitions) fill(e *elem, nonEmpty bool) map[string]any {
	obj := map[string]any{}
	for _, k := range e.kids {
		if k.min > 0 {
			d.put(obj, k)
		}
	}
	if len(obj) == 0 && nonEmpty {
		for _, k := range e.kids {
			switch k.name {
			case "id", "extension", "modifierExtension":
				continue
			}
			d.put(obj, k)
			break
		}
	}
	return obj
}

func (d *Definitions) put(obj map[string]any, k *elem) {
	typ := ""
	if len(k.types) > 0 {
		typ = k.types[0].Code
	}
	name := k.keys[0] // a choice as its first type
	var val any
	switch {
	case len(k.kids) > 0:
		val = d.fill(k, true)
	case k.ref != "":
		val = d.fill(k.sd.find(k.ref[strings.IndexByte(k.ref, '#')+1:]), true)
	default:
		val = d.sample(k, typ)
	}
	if k.array {
		val = []any{val}
	}
	obj[name] = val
}

var samples = map[string]any{
	"boolean": true, "integer": json.Number("1"), "positiveInt": json.Number("1"), "unsignedInt": json.Number("0"),
	"decimal": json.Number("1"), "date": "2020-01-01", "dateTime": "2020-01-01T00:00:00Z", "instant": "2020-01-01T00:00:00Z",
	"time": "00:00:00", "uri": "http://example.org/x", "url": "http://example.org/x", "canonical": "http://example.org/x",
	"id": "x", "oid": "urn:oid:1.2.3", "uuid": "urn:uuid:00000000-0000-4000-8000-000000000000", "base64Binary": "AAAA",
	"xhtml": `<div xmlns="http://www.w3.org/1999/xhtml">x</div>`,
}

// sample is a value of type typ for element k.
func (d *Definitions) sample(k *elem, typ string) any {
	system, code := "", ""
	if k.binding != nil && k.binding.strength == "required" {
		system, code = d.terms.first(k.binding.pkg, k.binding.valueSet)
	}
	switch typ {
	case "code":
		if code == "" {
			return "x"
		}
		return code
	case "Coding":
		if code == "" {
			return map[string]any{"display": "x"}
		}
		return map[string]any{"system": system, "code": code}
	case "CodeableConcept":
		if code == "" {
			return map[string]any{"text": "x"}
		}
		return map[string]any{"coding": []any{map[string]any{"system": system, "code": code}}}
	case "Reference":
		return map[string]any{"display": "x"}
	}
	if v, ok := samples[typ]; ok {
		return v
	}
	if d.prims[typ] != nil || strings.HasPrefix(typ, "http://hl7.org/fhirpath/System.") {
		return "x"
	}
	if sd := d.Base(typ); sd != nil {
		return d.fill(sd.tree(), true)
	}
	return "x"
}

// first is the first code of a value set, in a stable order.
func (t *terminology) first(pkg, url string) (system, code string) {
	x := t.expand(pkg, url)
	if x == nil {
		return "", ""
	}
	systems := make([]string, 0, len(x.codes))
	for s := range x.codes {
		systems = append(systems, s)
	}
	slices.Sort(systems)
	for _, s := range systems {
		codes := make([]string, 0, len(x.codes[s]))
		for c := range x.codes[s] {
			codes = append(codes, c)
		}
		slices.Sort(codes)
		if len(codes) > 0 {
			return s, codes[0]
		}
	}
	return "", ""
}
