package fhirserver

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/fhirserver/fhirserver/operations/docref"
	"github.com/fhirserver/fhirserver/resources"
	"github.com/fhirserver/fhirserver/storage"
)

// opParam is one parameter of an operation: name, in or out, cardinality
// and FHIR type.
type opParam struct {
	name, use, min, max, typ, doc string
}

// opDef describes one of this server's own operations, or one an
// implementation guide defines (published, its definition as published;
// doc then says how this server answers it).
type opDef struct {
	resource, code, doc string
	typeLevel, instance bool
	affectsState        bool
	params              []opParam
	published           []byte
}

// ownOperations are the operations this server defines, and those of
// implementation guides it answers; their OperationDefinitions are served
// at [base]/OperationDefinition/[Resource]-[code] and named in the
// CapabilityStatement by operationBase + the same id, or by the guide's
// canonical.
var ownOperations = []opDef{
	{resource: "DocumentReference", code: "docref", typeLevel: true, published: docref.Definition, doc: docref.Doc},
	{resource: "Patient", code: "break-glass", instance: true, affectsState: true, doc: "Emergency access to a patient outside the user's care relationships: recorded first, granted at once for a limited time, reviewed by the privacy officer.",
		params: []opParam{{"justification", "in", "1", "1", "string", "why (at least twenty characters and three words)"}, {"purpose", "in", "1", "1", "code", "purpose of use, such as ETREAT"},
			{"patient", "out", "1", "1", "Reference", "the patient"}, {"expires", "out", "1", "1", "instant", "when the access ends"}, {"review", "out", "1", "1", "Reference", "the review Task"}}},
	{resource: "AuditEvent", code: "verify", typeLevel: true, doc: "Recomputes every audit hash chain and names the first broken link.",
		params: []opParam{{"rows", "out", "1", "1", "integer", "rows checked"}, {"intact", "out", "1", "1", "boolean", "every chain holds"},
			{"stripe", "out", "0", "1", "integer", "the broken chain"}, {"link", "out", "0", "1", "integer", "its first broken link"}, {"reason", "out", "0", "1", "string", "what is wrong"}}},
	{resource: "Practitioner", code: "availability", instance: true, affectsState: true, doc: "Replaces the practitioner's weekly availability and brings the slots of the horizon in line with it.",
		params: []opParam{{"timezone", "in", "1", "1", "string", "IANA time zone"}, {"location", "in", "0", "1", "Reference", "where"},
			{"rule", "in", "0", "*", "", "a weekly window"},
			{"schedule", "out", "1", "1", "Reference", "the Schedule"}, {"opened", "out", "1", "1", "integer", "slots made free"}, {"withdrawn", "out", "1", "1", "integer", "slots withdrawn"}, {"kept", "out", "1", "1", "integer", "slots left as they were"}}},
	{resource: "Practitioner", code: "block", instance: true, affectsState: true, doc: "Takes time off; the free slots it touches are withdrawn.",
		params: []opParam{{"start", "in", "1", "1", "dateTime", ""}, {"end", "in", "1", "1", "dateTime", ""}, {"reason", "in", "1", "1", "string", ""},
			{"schedule", "out", "1", "1", "Reference", ""}, {"opened", "out", "1", "1", "integer", ""}, {"withdrawn", "out", "1", "1", "integer", ""}, {"kept", "out", "1", "1", "integer", ""}}},
	{resource: "Appointment", code: "find", typeLevel: true, doc: "The free slots, earliest first.",
		params: []opParam{{"practitioner", "in", "0", "1", "string", ""}, {"visit-type", "in", "0", "1", "string", "code, or system|code"}, {"specialty", "in", "0", "1", "string", "system|code"},
			{"location", "in", "0", "1", "string", ""}, {"start", "in", "0", "1", "dateTime", ""}, {"end", "in", "0", "1", "dateTime", ""}, {"return", "out", "1", "1", "Bundle", "Slots"}}},
	{resource: "Appointment", code: "book", typeLevel: true, affectsState: true, doc: "Books the slots an Appointment names, under their locks; 409 when another booking filled one first.",
		params: []opParam{{"appointment", "in", "1", "1", "Appointment", ""}, {"return", "out", "1", "1", "Appointment", "the booked Appointment"}}},
	{resource: "Appointment", code: "events", typeLevel: true, instance: true, doc: "Status changes of an appointment, or across appointments.",
		params: []opParam{{"to", "in", "0", "1", "code", ""}, {"actor", "in", "0", "1", "string", ""}, {"since", "in", "0", "1", "instant", ""},
			{"event", "out", "0", "*", "", "one status change"}}},
	{resource: "Appointment", code: "waitlist", typeLevel: true, affectsState: true, doc: "Puts a patient on the waitlist.",
		params: []opParam{{"patient", "in", "1", "1", "Reference", ""}, {"practitioner", "in", "0", "1", "Reference", ""}, {"specialty", "in", "0", "1", "Coding", ""},
			{"visitType", "in", "0", "1", "code", ""}, {"urgency", "in", "1", "1", "integer", "1 to 5"}, {"distanceKm", "in", "0", "1", "decimal", ""},
			{"return", "out", "1", "1", "Appointment", "the waitlist Appointment"}}},
	{resource: "Encounter", code: "telehealth", typeLevel: true, affectsState: true, doc: "Makes a telehealth session for an appointment.",
		params: []opParam{{"appointment", "in", "1", "1", "Reference", ""}, {"sessionType", "in", "1", "1", "code", ""}, {"return", "out", "1", "1", "Encounter", ""}}},
	{resource: "Encounter", code: "join", instance: true, affectsState: true, doc: "The patient enters the waiting room.", params: []opParam{{"return", "out", "1", "1", "Encounter", ""}}},
	{resource: "Encounter", code: "start", instance: true, affectsState: true, doc: "The practitioner starts the session.", params: []opParam{{"return", "out", "1", "1", "Encounter", ""}}},
	{resource: "Encounter", code: "complete", instance: true, affectsState: true, doc: "The session ends, completed.", params: []opParam{{"return", "out", "1", "1", "Encounter", ""}}},
	{resource: "Encounter", code: "abandon", instance: true, affectsState: true, doc: "The session ends, abandoned.", params: []opParam{{"return", "out", "1", "1", "Encounter", ""}}},
	{resource: "Encounter", code: "no-show", instance: true, affectsState: true, doc: "The session ends: the patient did not come.", params: []opParam{{"return", "out", "1", "1", "Encounter", ""}}},
	{resource: "Encounter", code: "waiting-room", instance: true, doc: "The session's place in the waiting room and the estimated wait; over a WebSocket, at every change.",
		params: []opParam{{"state", "out", "1", "1", "code", ""}, {"position", "out", "1", "1", "integer", ""}, {"estimatedWaitSeconds", "out", "1", "1", "integer", ""}}},
	{resource: "Encounter", code: "consent", instance: true, affectsState: true, doc: "Records the patient's session consent.",
		params: []opParam{{"type", "in", "1", "1", "code", "RECORDING, DATA_PROCESSING, TELEHEALTH_TERMS"}, {"method", "in", "1", "1", "code", "IN_APP_CLICK, VERBAL_CONFIRMED_BY_CLINICIAN"},
			{"return", "out", "1", "1", "Consent", ""}}},
	{resource: "Encounter", code: "video-token", instance: true, affectsState: true, doc: "A single-use, short-lived token into the session's video room.",
		params: []opParam{{"token", "out", "1", "1", "string", ""}, {"provider", "out", "1", "1", "string", ""}, {"room", "out", "1", "1", "string", ""}, {"expires", "out", "1", "1", "instant", ""}}},
	{resource: "Encounter", code: "video-failover", instance: true, affectsState: true, doc: "Moves the session to the next video provider and answers a token there.",
		params: []opParam{{"token", "out", "1", "1", "string", ""}, {"provider", "out", "1", "1", "string", ""}, {"room", "out", "1", "1", "string", ""}, {"expires", "out", "1", "1", "instant", ""}}},
	{resource: "Encounter", code: "quality", instance: true, affectsState: true, doc: "A technical quality report, kept apart from the clinical record.",
		params: []opParam{{"kind", "in", "1", "1", "code", "PACKET_LOSS, BITRATE_DROP, DISCONNECT, RECONNECT, JITTER"}, {"value", "in", "1", "1", "decimal", ""}}},
}

// partsOf are the parts of the parameters that have no type of their own.
var partsOf = map[string][]opParam{
	"rule": {{"weekday", "in", "1", "1", "integer", "0 Sunday to 6"}, {"start", "in", "1", "1", "time", ""}, {"end", "in", "1", "1", "time", ""},
		{"slotMinutes", "in", "1", "1", "integer", ""}, {"visitType", "in", "0", "*", "code", ""}, {"maxConcurrent", "in", "0", "1", "integer", ""}},
	"event": {{"at", "out", "1", "1", "instant", ""}, {"actor", "out", "1", "1", "string", ""}, {"from", "out", "0", "1", "code", ""},
		{"to", "out", "1", "1", "code", ""}, {"reason", "out", "0", "1", "string", ""}, {"appointment", "out", "0", "1", "Reference", ""}},
}

func renderParams(ps []opParam) []map[string]any {
	var out []map[string]any
	for _, p := range ps {
		param := map[string]any{"name": p.name, "use": p.use, "min": json.Number(p.min), "max": p.max}
		if p.typ != "" {
			param["type"] = p.typ
		}
		if p.doc != "" {
			param["documentation"] = p.doc
		}
		if p.typ == "" {
			param["part"] = renderParams(partsOf[p.name])
		}
		out = append(out, param)
	}
	return out
}

// id names an operation's definition: Resource-code.
func (o opDef) id() string { return o.resource + "-" + o.code }

// canonical names the operation's definition.
func (o opDef) canonical() string {
	if o.published != nil {
		url, _ := o.definition()["url"].(string)
		return url
	}
	return operationBase + o.id()
}

// entry is the operation in the CapabilityStatement: a guide's operation
// with how this server answers it.
func (o opDef) entry() map[string]string {
	e := map[string]string{"name": o.code, "definition": o.canonical()}
	if o.published != nil {
		e["documentation"] = o.doc
	}
	return e
}

// definition renders the OperationDefinition; a guide's is served as
// published, under the id it has here.
func (o opDef) definition() map[string]any {
	if o.published != nil {
		var def map[string]any
		if err := json.Unmarshal(o.published, &def); err != nil {
			panic(err) // compiled in, and served by a test
		}
		def["id"] = o.id()
		return def
	}
	params := renderParams(o.params)
	return map[string]any{"resourceType": "OperationDefinition", "id": o.id(), "url": operationBase + o.id(),
		"name": pascal(o.id()), "status": "active", "kind": "operation",
		"code": o.code, "description": o.doc, "resource": []string{o.resource}, "system": false, "type": o.typeLevel,
		"instance": o.instance, "affectsState": o.affectsState, "parameter": params}
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

// operationDefinition is GET OperationDefinition/[id]: this server's own
// operations' definitions, else the stored resource.
func (a *app) operationDefinition(c echo.Context) error {
	id := c.Param("id")
	for _, o := range ownOperations {
		if o.id() == id {
			b, err := json.Marshal(o.definition())
			if err != nil {
				return err
			}
			r := resources.Result{Status: http.StatusOK, Body: b, Keys: []storage.Key{{Type: "OperationDefinition", ID: id}}}
			return a.respond(c, r, a.options(c), false)
		}
	}
	c.SetParamNames("type", "id")
	c.SetParamValues("OperationDefinition", id)
	return a.read(c)
}
