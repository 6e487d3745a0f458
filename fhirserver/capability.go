package fhirserver

import (
	"encoding/json"
	"sort"

	"github.com/fhirserver/fhirserver/profiles"
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
		params := []map[string]string{{"name": "_id", "type": "token", "definition": "http://hl7.org/fhir/SearchParameter/Resource-id"}}
		if profiles.HasElement(t, "identifier") {
			params = append(params, map[string]string{"name": "identifier", "type": "token"})
		}
		types = append(types, map[string]any{
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
		})
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
