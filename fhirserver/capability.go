package fhirserver

import (
	"encoding/json"
	"sort"

	"github.com/fhirserver/fhirserver/profiles"
	"github.com/fhirserver/fhirserver/search"
)

// typeInteractions are the type- and instance-level interactions routed in
// fhirRoutes for every resource type.
var typeInteractions = []string{"read", "vread", "update", "patch", "delete", "history-instance", "history-type", "create", "search-type"}

// capabilityStatement describes what fhirRoutes really serves.
func (a *app) capabilityStatement() []byte {
	var types []map[string]any
	names := profiles.ResourceTypes()
	sort.Strings(names)
	for _, t := range names {
		var ints []map[string]string
		for _, i := range typeInteractions {
			ints = append(ints, map[string]string{"code": i})
		}
		params := searchParams(t)
		res := map[string]any{
			"type":              t,
			"interaction":       ints,
			"versioning":        "versioned-update",
			"readHistory":       true,
			"updateCreate":      true,
			"conditionalCreate": true,
			"conditionalRead":   "not-supported",
			"conditionalUpdate": true,
			"conditionalDelete": "single",
			"searchParam":       params,
			"searchInclude":     []string{"*"},
			"searchRevInclude":  []string{"*"},
		}
		if t == "Patient" {
			res["operation"] = []map[string]string{{"name": "everything", "definition": "http://hl7.org/fhir/OperationDefinition/Patient-everything"}}
		}
		types = append(types, res)
	}
	rest := map[string]any{
		"mode":        "server",
		"resource":    types,
		"interaction": []map[string]string{{"code": "transaction"}, {"code": "batch"}, {"code": "history-system"}},
	}
	if a.d.Security != nil {
		rest["security"] = a.d.Security
	}
	cs := map[string]any{
		"resourceType":   "CapabilityStatement",
		"status":         "active",
		"date":           "2026-11-23",
		"kind":           "instance",
		"fhirVersion":    "4.0.1",
		"format":         []string{"application/fhir+json", "json"},
		"patchFormat":    []string{"application/json-patch+json"},
		"software":       map[string]string{"name": "fhirserver"},
		"implementation": map[string]string{"description": "SMART-on-FHIR R4 server", "url": a.fhirBase()},
		"rest":           []any{rest},
	}
	b, err := json.Marshal(cs)
	if err != nil {
		panic(err) // static data: a failure is a programming error
	}
	return b
}

// searchParams lists the parameters a search on typ applies: every R4
// parameter of the type that has an expression.
func searchParams(typ string) []map[string]string {
	reg, err := search.R4()
	if err != nil {
		panic(err) // compiled-in data, tested to load
	}
	var out []map[string]string
	for code, p := range reg.Params(typ) {
		out = append(out, map[string]string{"name": code, "type": p.Type, "definition": p.URL})
	}
	sort.Slice(out, func(i, j int) bool { return out[i]["name"] < out[j]["name"] })
	return out
}
