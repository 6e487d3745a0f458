package fhirserver

import (
	"encoding/json"
	"sort"

	"github.com/fhirserver/fhirserver/operations"
	"github.com/fhirserver/fhirserver/profiles"
	"github.com/fhirserver/fhirserver/search"
)

// typeInteractions are the type- and instance-level interactions routed in
// fhirRoutes for every resource type.
var typeInteractions = []string{"read", "vread", "update", "patch", "delete", "history-instance", "history-type", "create", "search-type"}

// capabilityStatement describes what fhirRoutes really serves.
func (a *app) capabilityStatement() []byte {
	reg := registry(a.d)
	defs, err := profiles.R4()
	if err != nil {
		panic(err) // compiled-in data, tested to load
	}
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
		res["profile"] = "http://hl7.org/fhir/StructureDefinition/" + t
		if sp := defs.Profiles(t); len(sp) > 0 {
			res["supportedProfile"] = sp
		}
		res["operation"] = operationsOf(reg, t)
		if t == "AuditEvent" {
			res = auditEventCapability(reg, res)
		}
		types = append(types, res)
	}
	rest := map[string]any{
		"mode":        "server",
		"resource":    types,
		"interaction": []map[string]string{{"code": "transaction"}, {"code": "batch"}, {"code": "history-system"}},
		"compartment": []string{"http://hl7.org/fhir/CompartmentDefinition/patient"},
	}
	var system []map[string]string
	for _, o := range reg.All() {
		if o.Levels&operations.System != 0 {
			system = append(system, o.Entry())
		}
	}
	if system != nil {
		rest["operation"] = system
	}
	if a.d.Security != nil {
		rest["security"] = a.d.Security
	}
	cs := map[string]any{
		"resourceType": "CapabilityStatement",
		"status":       "active",
		"date":         "2026-11-23",
		"kind":         "instance",
		// What a client of any US Core version held may rely on; the
		// conformance tests check each claim against what the server answers.
		"instantiates":        instantiates(),
		"implementationGuide": implementationGuides(),
		"fhirVersion":         "4.0.1",
		"format":              []string{"application/fhir+json", "json"},
		"patchFormat":         []string{"application/json-patch+json"},
		"software":            map[string]string{"name": "fhirserver"},
		"implementation":      map[string]string{"description": "SMART-on-FHIR R4 server", "url": a.fhirBase()},
		"rest":                []any{rest},
	}
	b, err := json.Marshal(cs)
	if err != nil {
		panic(err) // static data: a failure is a programming error
	}
	return b
}

// auditEventCapability is what the audit log answers: auditors read and
// search it (resources/auditevent.go) and verify its chains; nobody writes
// it, so the operations of every type ($validate) are not claimed for it.
func auditEventCapability(reg *operations.Registry, res map[string]any) map[string]any {
	var ops []map[string]string
	for _, o := range reg.All() {
		if o.Types != nil && o.RunsOn("AuditEvent") {
			ops = append(ops, o.Entry())
		}
	}
	var params []map[string]string
	for _, p := range res["searchParam"].([]map[string]string) {
		switch p["name"] {
		case "date", "entity", "patient", "altid", "action", "outcome":
			params = append(params, p)
		}
	}
	return map[string]any{
		"type":        "AuditEvent",
		"profile":     res["profile"],
		"interaction": []map[string]string{{"code": "read"}, {"code": "search-type"}},
		"searchParam": params,
		"operation":   ops,
	}
}

// operationsOf lists the operations of reg that run on typ, each with
// its OperationDefinition's canonical URL (operations.Operation.Entry).
func operationsOf(reg *operations.Registry, typ string) []map[string]string {
	var ops []map[string]string
	for _, o := range reg.All() {
		if o.RunsOn(typ) {
			ops = append(ops, o.Entry())
		}
	}
	return ops
}

// searchParams lists the parameters a search on typ applies: every R4 and
// US Core parameter of the type that has an expression, but special ones,
// under US Core's canonical where US Core defines the code.
func searchParams(typ string) []map[string]string {
	reg := searchRegistry()
	var out []map[string]string
	for code, p := range reg.Params(typ) {
		if p.Type == "special" {
			continue // near and the like: refused by search (search/parse.go)
		}
		out = append(out, map[string]string{"name": code, "type": p.Type, "definition": p.URL})
	}
	sort.Slice(out, func(i, j int) bool { return out[i]["name"] < out[j]["name"] })
	return out
}

// instantiates names the us-core-server CapabilityStatement of every US
// Core version whose search parameters the server holds: a search
// parameter of any of them is answered (search/data).
func instantiates() []string {
	var out []string
	for _, v := range searchRegistry().USCore {
		out = append(out, "http://hl7.org/fhir/us/core/CapabilityStatement/us-core-server|"+v)
	}
	return out
}

// implementationGuides are the US Core versions held, each validated
// against (profiles) and searched (search/data).
func implementationGuides() []string {
	var out []string
	for _, v := range searchRegistry().USCore {
		out = append(out, "http://hl7.org/fhir/us/core/ImplementationGuide/hl7.fhir.us.core|"+v)
	}
	return out
}

func searchRegistry() *search.Registry {
	reg, err := search.R4()
	if err != nil {
		panic(err) // compiled-in data, tested to load
	}
	return reg
}
