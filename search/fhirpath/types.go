package fhirpath

import (
	"encoding/json"
	"strings"
)

// The FHIR R4 data types a choice element can take, by the spelling of
// their type name: primitives start lower case.
var primitiveTypes = set("base64Binary", "boolean", "canonical", "code", "date", "dateTime", "decimal", "id",
	"instant", "integer", "markdown", "oid", "positiveInt", "string", "time", "unsignedInt", "uri", "url", "uuid")

var complexTypes = set("Address", "Age", "Annotation", "Attachment", "CodeableConcept", "Coding", "ContactPoint",
	"Count", "Distance", "Duration", "HumanName", "Identifier", "Money", "Period", "Quantity", "Range", "Ratio",
	"Reference", "SampledData", "Signature", "Timing", "ContactDetail", "Contributor", "DataRequirement",
	"Expression", "ParameterDefinition", "RelatedArtifact", "TriggerDefinition", "UsageContext", "Dosage", "Meta")

// parents are the specialisations FHIRPath's `is` sees through.
var parents = map[string]string{
	"Age": "Quantity", "Count": "Quantity", "Distance": "Quantity", "Duration": "Quantity",
	"SimpleQuantity": "Quantity", "MoneyQuantity": "Quantity",
	"code": "string", "id": "string", "markdown": "string",
	"url": "uri", "canonical": "uri", "uuid": "uri", "oid": "uri",
	"positiveInt": "integer", "unsignedInt": "integer",
}

func set(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

// isA says whether a node of type typ is a want: the same type, one of its
// parents, or any resource for Resource and DomainResource.
func isA(typ, want string) bool {
	if typ == "" {
		return false
	}
	for t := typ; t != ""; t = parents[t] {
		if t == want {
			return true
		}
	}
	if want == "Resource" || want == "DomainResource" {
		return typ[0] >= 'A' && typ[0] <= 'Z' && !complexTypes[typ] && parents[typ] == "" && typ != "Extension"
	}
	return false
}

// lowerFirst maps the spelling of a primitive type in a choice element's
// name (valueDateTime) to the type (dateTime).
var lowerFirst = func() map[string]string {
	m := make(map[string]string, len(primitiveTypes))
	for p := range primitiveTypes {
		m[strings.ToUpper(p[:1])+p[1:]] = p
	}
	return m
}()

// systemTypes maps the FHIR primitive types to the FHIRPath (System) type
// of their value.
var systemTypes = map[string]string{
	"boolean": "Boolean", "string": "String", "code": "String", "id": "String", "markdown": "String",
	"uri": "String", "url": "String", "canonical": "String", "oid": "String", "uuid": "String",
	"base64Binary": "String", "xhtml": "String", "integer": "Integer", "positiveInt": "Integer",
	"unsignedInt": "Integer", "decimal": "Decimal", "date": "Date", "dateTime": "DateTime",
	"instant": "DateTime", "time": "Time",
}

// fhirName is the FHIR type a System type name stands for when a node of
// unknown type is cast to it (String -> string).
func fhirName(name string) string {
	switch name {
	case "Boolean", "String", "Integer", "Decimal", "Date", "DateTime", "Time":
		return strings.ToLower(name[:1]) + name[1:]
	}
	return name
}

func isResourceType(t string) bool {
	return t != "" && t[0] >= 'A' && t[0] <= 'Z' && !complexTypes[t] && parents[t] == "" && t != "Extension" &&
		systemTypes[strings.ToLower(t[:1])+t[1:]] == ""
}

// isType is `is` for a node. A typed node is its type, that type's
// parents, and in an invariant the System type of its value (a code is a
// String). In an invariant, a node whose type JSON does not tell (an
// element that is not a choice) matches what its value can be: a string
// is a String and any of the FHIR string types (code, uri, id, ...), and
// a date, dateTime, instant or time when it reads as one; a number is a
// decimal, and an integer when it has no fraction; a boolean a boolean.
func (e *env) isType(n Node, want string) bool {
	if n.Type != "" {
		return isA(n.Type, want) || e.invariant && systemTypes[n.Type] == want
	}
	if !e.invariant {
		return false
	}
	switch v := n.Value.(type) {
	case string:
		switch want {
		case "String", "string", "code", "id", "markdown", "uri", "url", "canonical", "oid", "uuid", "base64Binary", "xhtml":
			return true
		case "Date", "date":
			m, ok := parseMoment(v, false)
			return ok && m.prec <= 3
		case "DateTime", "dateTime":
			_, ok := parseMoment(v, false)
			return ok
		case "instant":
			m, ok := parseMoment(v, false)
			return ok && m.prec == 6 && m.tz
		case "Time", "time":
			_, ok := parseMoment(v, true)
			return ok
		}
	case bool:
		return want == "Boolean" || want == "boolean"
	case json.Number:
		switch want {
		case "Decimal", "decimal":
			return true
		case "Integer", "integer", "unsignedInt", "positiveInt":
			return isIntegerText(string(v))
		}
	}
	return false
}
