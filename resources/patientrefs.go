package resources

import (
	"strconv"
	"strings"

	"github.com/fhirserver/fhirserver/search/fhirpath"
)

// otherPatient returns where v (a resource, walked whole: every element,
// extensions, contained resources) refers to a Patient other than
// patient, or "" when it names no other. A reference counts whatever its
// form: relative, absolute (this server's base or another's), versioned,
// conditional (unresolved: it cannot be shown to be the patient), or
// logical (type Patient, an identifier and no reference).
func otherPatient(v any, patient, at string) string {
	switch x := v.(type) {
	case map[string]any:
		if namesOtherPatient(x, patient) {
			return at
		}
		for key, e := range x {
			if where := otherPatient(e, patient, at+"."+key); where != "" {
				return where
			}
		}
	case []any:
		for i, e := range x {
			if where := otherPatient(e, patient, at+"["+strconv.Itoa(i)+"]"); where != "" {
				return where
			}
		}
	}
	return ""
}

// namesOtherPatient reports whether m, if it is a Reference, names a
// Patient other than patient.
func namesOtherPatient(m map[string]any, patient string) bool {
	ref, hasRef := m["reference"].(string)
	typ, _ := m["type"].(string)
	if !hasRef {
		return typ == "Patient" && m["identifier"] != nil
	}
	if strings.HasPrefix(ref, "#") {
		return false // the contained resource is walked where it is
	}
	refType, id := referenceTarget(ref)
	if refType == "" && typ == "Patient" {
		refType = typ
	}
	return refType == "Patient" && id != patient
}

// referenceTarget reads [base/]Type/id[/_history/v] or Type?criteria (id
// ""): the type a reference names, and the id when it gives one.
func referenceTarget(ref string) (typ, id string) {
	if path, _, conditional := strings.Cut(ref, "?"); conditional {
		return path[strings.LastIndexByte(path, '/')+1:], ""
	}
	if i := strings.Index(ref, "/_history/"); i >= 0 {
		ref = ref[:i]
	}
	ref = strings.TrimRight(ref, "/")
	if typ = fhirpath.ReferenceType(ref); typ == "" {
		return "", ref
	}
	return typ, ref[strings.LastIndexByte(ref, '/')+1:]
}
