package resources

import (
	"github.com/fhirserver/fhirserver/profiles"
	"github.com/fhirserver/fhirserver/search"
)

// subsetted is the tag R4 requires on a resource returned incomplete.
var subsetted = map[string]any{"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "code": "SUBSETTED"}

// keptElements returns the top-level elements _summary or _elements keep
// for typ, or nil when the resource is returned whole.
func keptElements(typ string, q search.Query) []string {
	keep := []string{"id", "meta"}
	switch {
	case len(q.Elements) > 0:
		keep = append(keep, q.Elements...)
		keep = append(keep, profiles.MandatoryElements(typ)...)
	case q.Summary == "true":
		keep = append(keep, profiles.SummaryElements(typ)...)
		keep = append(keep, profiles.MandatoryElements(typ)...)
	case q.Summary == "text":
		keep = append(keep, "text")
		keep = append(keep, profiles.MandatoryElements(typ)...)
	case q.Summary == "data":
		return []string{"-text"}
	default:
		return nil
	}
	return keep
}

// subset keeps only the listed elements of a stored resource (or drops
// the one named "-x") and tags it SUBSETTED.
func subset(body []byte, keep []string) ([]byte, error) {
	obj, err := profiles.Decode(body)
	if err != nil {
		return nil, err
	}
	for key := range obj {
		if key == "resourceType" || kept(key, keep) {
			continue
		}
		delete(obj, key)
	}
	tagSubsetted(obj)
	return encode(obj)
}

func kept(key string, keep []string) bool {
	if len(keep) == 1 && keep[0][0] == '-' {
		return !profiles.ElementKey(key, keep[0][1:])
	}
	for _, name := range keep {
		if profiles.ElementKey(key, name) {
			return true
		}
	}
	return false
}
