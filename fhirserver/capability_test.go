package fhirserver_test

import (
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirserver/fhirserver/search"
)

// capability is the part of the CapabilityStatement the claim tests read.
type capability struct {
	Instantiates []string
	Rest         []struct {
		Interaction []struct{ Code string }
		Compartment []string
		Resource    []struct {
			Type             string
			Profile          string
			SupportedProfile []string
			Interaction      []struct{ Code string }
			SearchParam      []struct{ Name, Type, Definition string }
			Operation        []struct{ Name, Definition string }
		}
	}
}

func metadata(t *testing.T, ts *testServer) capability {
	t.Helper()
	r := ts.do("GET", "/metadata", "", "")
	require.Equal(t, 200, r.Status)
	var cs capability
	require.NoError(t, json.Unmarshal(r.Body, &cs))
	return cs
}

// routeClaims names, for each FHIR route, what the CapabilityStatement
// must claim for it: "interaction:<code>" on every type, "system:<code>",
// "op:<type>:<name>" ("*" for every type), or "compartment". A route
// missing here fails the test: nothing is answered unclaimed.
var routeClaims = map[string]string{
	"POST /fhir":                                "system:transaction",
	"GET /fhir/_history":                        "system:history-system",
	"GET /fhir/:type":                           "interaction:search-type",
	"POST /fhir/:type/_search":                  "interaction:search-type",
	"POST /fhir/:type":                          "interaction:create",
	"PUT /fhir/:type":                           "interaction:update", // conditional update, claimed with conditionalUpdate
	"DELETE /fhir/:type":                        "interaction:delete", // conditional delete, claimed with conditionalDelete
	"GET /fhir/:type/_history":                  "interaction:history-type",
	"GET /fhir/:type/:id":                       "interaction:read",
	"PUT /fhir/:type/:id":                       "interaction:update",
	"PATCH /fhir/:type/:id":                     "interaction:patch",
	"DELETE /fhir/:type/:id":                    "interaction:delete",
	"GET /fhir/:type/:id/_history":              "interaction:history-instance",
	"GET /fhir/:type/:id/_history/:vid":         "interaction:vread",
	"GET /fhir/:type/:id/:compartmentType":      "compartment",
	"GET /fhir/Patient/$everything":             "op:Patient:everything",
	"GET /fhir/Patient/:id/$everything":         "op:Patient:everything",
	"POST /fhir/Patient/:id/$break-glass":       "op:Patient:break-glass",
	"GET /fhir/AuditEvent/$verify":              "op:AuditEvent:verify",
	"POST /fhir/AuditEvent/$verify":             "op:AuditEvent:verify",
	"POST /fhir/Practitioner/:id/$availability": "op:Practitioner:availability",
	"POST /fhir/Practitioner/:id/$block":        "op:Practitioner:block",
	"GET /fhir/Appointment/$find":               "op:Appointment:find",
	"POST /fhir/Appointment/$find":              "op:Appointment:find",
	"POST /fhir/Appointment/$book":              "op:Appointment:book",
	"GET /fhir/Appointment/:id/$events":         "op:Appointment:events",
	"GET /fhir/Appointment/$events":             "op:Appointment:events",
	"POST /fhir/Appointment/$waitlist":          "op:Appointment:waitlist",
	"POST /fhir/Encounter/$telehealth":          "op:Encounter:telehealth",
	"POST /fhir/Encounter/:id/$join":            "op:Encounter:join",
	"POST /fhir/Encounter/:id/$start":           "op:Encounter:start",
	"POST /fhir/Encounter/:id/$complete":        "op:Encounter:complete",
	"POST /fhir/Encounter/:id/$abandon":         "op:Encounter:abandon",
	"POST /fhir/Encounter/:id/$no-show":         "op:Encounter:no-show",
	"GET /fhir/Encounter/:id/$waiting-room":     "op:Encounter:waiting-room",
	"POST /fhir/Encounter/:id/$consent":         "op:Encounter:consent",
	"POST /fhir/Encounter/:id/$video-token":     "op:Encounter:video-token",
	"POST /fhir/Encounter/:id/$video-failover":  "op:Encounter:video-failover",
	"POST /fhir/Encounter/:id/$quality":         "op:Encounter:quality",
	"GET /fhir/DocumentReference/$docref":       "op:DocumentReference:docref",
	"POST /fhir/DocumentReference/$docref":      "op:DocumentReference:docref",
	"GET /fhir/OperationDefinition/:id":         "interaction:read",
	"POST /fhir/:type/$validate":                "op:*:validate",
	"GET /fhir/:type/$validate":                 "op:*:validate",
	"POST /fhir/:type/:id/$validate":            "op:*:validate",
	"GET /fhir/:type/:id/$validate":             "op:*:validate",
	"GET /fhir/metadata":                        "",
	"GET /fhir/.well-known/smart-configuration": "",
}

// Every FHIR route is claimed by the CapabilityStatement, and every claim
// names a definition: the types' base and supported profiles, the search
// parameters' and operations' canonical URLs.
func TestEveryRouteIsClaimed(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	cs := metadata(t, ts)
	require.Len(t, cs.Rest, 1)
	rest := cs.Rest[0]
	assert.Contains(t, cs.Instantiates, "http://hl7.org/fhir/us/core/CapabilityStatement/us-core-server|6.1.0")
	claimed := map[string]bool{}
	for _, i := range rest.Interaction {
		claimed["system:"+i.Code] = true
	}
	for _, c := range rest.Compartment {
		claimed["compartment"] = claimed["compartment"] || c == "http://hl7.org/fhir/CompartmentDefinition/patient"
	}
	everyType := map[string]int{}
	for _, r := range rest.Resource {
		assert.Equal(t, "http://hl7.org/fhir/StructureDefinition/"+r.Type, r.Profile)
		for _, o := range r.Operation {
			assert.NotEmpty(t, o.Definition, "%s $%s", r.Type, o.Name)
			claimed["op:"+r.Type+":"+o.Name] = true
		}
		if r.Type == "AuditEvent" {
			continue // the audit log, checked below: not counted for every type
		}
		for _, i := range r.Interaction {
			everyType["interaction:"+i.Code]++
		}
		for _, o := range r.Operation {
			everyType["op:*:"+o.Name]++
		}
		for _, p := range r.SearchParam {
			assert.NotEmpty(t, p.Definition, "%s %s", r.Type, p.Name)
		}
	}
	for claim, n := range everyType {
		claimed[claim] = n == len(rest.Resource)-1
	}
	// What AuditEvent does not claim it refuses: the server alone writes it.
	for _, r := range rest.Resource {
		if r.Type == "AuditEvent" {
			assert.Equal(t, []struct{ Code string }{{"read"}, {"search-type"}}, r.Interaction)
		}
	}
	for _, req := range [][2]string{{"POST", "/AuditEvent"}, {"PUT", "/AuditEvent/x"}, {"DELETE", "/AuditEvent/x"}, {"POST", "/AuditEvent/$validate"}} {
		assert.Equal(t, 405, ts.do(req[0], req[1], fhirJSON, `{"resourceType":"AuditEvent"}`).Status, "%s %s", req[0], req[1])
	}
	assert.Equal(t, 405, ts.do("PATCH", "/AuditEvent/x", "application/json-patch+json", `[]`).Status)
	for _, r := range ts.app.Routes() {
		if !strings.HasPrefix(r.Path, "/fhir") {
			continue
		}
		claim, known := routeClaims[r.Method+" "+r.Path]
		if !assert.True(t, known, "%s %s is answered but routeClaims does not say what claims it", r.Method, r.Path) || claim == "" {
			continue
		}
		assert.True(t, claimed[claim], "%s %s is answered but not claimed (%s)", r.Method, r.Path, claim)
	}
	for _, r := range rest.Resource {
		if r.Type == "Patient" {
			assert.Contains(t, r.SupportedProfile, "http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient")
		}
	}
}

// Every search parameter the CapabilityStatement claims answers a search
// under Prefer: handling=strict (which refuses what it does not support),
// on every type; every claimed operation is routed.
func TestClaimedSearchParametersAndOperationsAnswer(t *testing.T) {
	if testing.Short() {
		t.Skip("a search per claimed parameter")
	}
	t.Parallel()
	ts := newServer(t)
	cs := metadata(t, ts)
	ts.put("Patient", "p1", `{"resourceType":"Patient","id":"p1"}`)
	searched := 0
	reg, err := search.R4()
	require.NoError(t, err)
	for _, r := range cs.Rest[0].Resource {
		if r.Type == "AuditEvent" {
			continue // auditors only: TestAuditorsReadTheAuditLog
		}
		for _, p := range r.SearchParam {
			value := sampleValue(p.Type)
			if p.Type == "composite" {
				var parts []string
				for _, c := range reg.Param(r.Type, p.Name).Components {
					parts = append(parts, sampleValue(reg.ByURL(c.Definition).Type))
				}
				value = strings.Join(parts, "$")
			}
			q := url.Values{p.Name: {value}}
			got := ts.do("GET", "/"+r.Type+"?"+q.Encode(), "", "", "Prefer", "handling=strict")
			assert.Equal(t, 200, got.Status, "%s?%s (%s): %s", r.Type, q.Encode(), p.Type, got.Body)
			searched++
		}
		for _, o := range r.Operation {
			var got response
			switch o.Name {
			case "validate":
				got = ts.do("POST", "/"+r.Type+"/$validate", fhirJSON, `{"resourceType":"`+r.Type+`"}`)
			case "everything":
				got = ts.do("GET", "/Patient/p1/$everything", "", "")
			case "break-glass":
				got = ts.do("POST", "/Patient/p1/$break-glass", fhirJSON, `{"resourceType":"Parameters"}`)
			case "verify":
				got = ts.do("GET", "/AuditEvent/$verify", "", "")
			case "availability", "block":
				got = ts.do("POST", "/Practitioner/dr1/$"+o.Name, fhirJSON, `{"resourceType":"Parameters"}`)
			case "find":
				got = ts.do("GET", "/Appointment/$find", "", "")
			case "book":
				got = ts.do("POST", "/Appointment/$book", fhirJSON, `{"resourceType":"Parameters"}`)
			case "telehealth":
				got = ts.do("POST", "/Encounter/$telehealth", fhirJSON, `{"resourceType":"Parameters"}`)
			case "join", "start", "complete", "abandon", "no-show", "consent", "video-token", "video-failover", "quality":
				ts.put("Encounter", "e1", `{"resourceType":"Encounter","status":"planned","class":{"code":"VR"}}`)
				got = ts.do("POST", "/Encounter/e1/$"+o.Name, fhirJSON, `{"resourceType":"Parameters"}`)
			case "waiting-room":
				got = ts.do("GET", "/Encounter/e1/$waiting-room", "", "")
			case "waitlist":
				got = ts.do("POST", "/Appointment/$waitlist", fhirJSON, `{"resourceType":"Parameters"}`)
			case "docref":
				got = ts.do("GET", "/DocumentReference/$docref?patient=p1", "", "")
			case "events":
				ts.put("Appointment", "a1", `{"resourceType":"Appointment","id":"a1","status":"proposed","participant":[{"actor":{"display":"x"},"status":"needs-action"}]}`)
				got = ts.do("GET", "/Appointment/a1/$events", "", "")
			default:
				t.Errorf("%s claims $%s, which this test does not know how to call", r.Type, o.Name)
				continue
			}
			assert.False(t, slices.Contains([]int{404, 405, 501}, got.Status), "%s $%s: %d %s", r.Type, o.Name, got.Status, got.Body)
		}
	}
	assert.Greater(t, searched, 1000)
}

// sampleValue is a well-formed value for a search parameter of a type.
func sampleValue(typ string) string {
	switch typ {
	case "number":
		return "1"
	case "date":
		return "2020-01-01"
	case "token":
		return "http://example.org|x"
	case "reference":
		return "x"
	case "quantity":
		return "1"
	case "uri":
		return "http://example.org/x"
	}
	return "x"
}

// The server's own operations' definitions resolve under its base, say
// what the CapabilityStatement claims, and are valid OperationDefinitions;
// other OperationDefinitions read as stored.
func TestOwnOperationDefinitionsResolve(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	cs := metadata(t, ts)
	checked := 0
	for _, r := range cs.Rest[0].Resource {
		for _, o := range r.Operation {
			id, ok := strings.CutPrefix(o.Definition, "http://fhirserver.dev/fhir/OperationDefinition/")
			if !ok {
				continue
			}
			got := ts.do("GET", "/OperationDefinition/"+id, "", "")
			require.Equal(t, 200, got.Status, "%s: %s", id, got.Body)
			def := got.json(t)
			assert.Equal(t, o.Definition, def["url"])
			assert.Equal(t, o.Name, def["code"])
			assert.Contains(t, def["resource"], r.Type)
			v := ts.do("POST", "/OperationDefinition/$validate", fhirJSON, string(got.Body))
			assert.Equal(t, `{"resourceType":"OperationOutcome","issue":[{"severity":"information","code":"informational","diagnostics":"the resource is valid"}]}`, string(v.Body), id)
			checked++
		}
	}
	assert.Greater(t, checked, 15)
	ts.put("OperationDefinition", "mine", `{"resourceType":"OperationDefinition","id":"mine","name":"Mine","status":"draft","kind":"operation","code":"mine","system":true,"type":false,"instance":false}`)
	assert.Equal(t, "mine", ts.do("GET", "/OperationDefinition/mine", "", "").json(t)["code"])
	assert.Equal(t, 404, ts.do("GET", "/OperationDefinition/nope", "", "").Status)
}
