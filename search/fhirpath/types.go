package fhirpath

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
