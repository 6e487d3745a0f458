package search

import (
	"strings"

	"github.com/fhirserver/fhirserver/profiles"
)

// Include is one _include or _revinclude: resources that matches point at
// (or, reversed, that point at matches) through the reference parameters
// of Source (any reference parameter when Params is empty).
type Include struct {
	Reverse    bool
	Iterate    bool     // also from included resources, level after level
	Source     string   // the type holding the reference; "" for any (_include=*)
	Params     []string // index codes of the reference parameters; empty: all
	TargetType string   // only references to this type; "" for any
}

// parseInclude reads Type:param[:Target], Type:* or *.
func (r *Registry) parseInclude(name, value string) (Include, error) {
	base, modifier, _ := strings.Cut(name, ":")
	inc := Include{Reverse: base == "_revinclude"}
	switch modifier {
	case "":
	case "iterate", "recurse":
		inc.Iterate = true
	default:
		return inc, unknownModifier(name, modifier)
	}
	if value == "*" && !inc.Reverse {
		return inc, nil
	}
	parts := strings.Split(value, ":")
	if len(parts) < 2 || len(parts) > 3 || !profiles.IsResourceType(parts[0]) {
		return inc, invalid(name, "%s=%s: the value must be Type:parameter[:targetType]", name, value)
	}
	inc.Source = parts[0]
	if parts[1] != "*" {
		p := r.Param(parts[0], parts[1])
		if p == nil || p.Type != "reference" {
			return inc, invalid(name, "%s=%s: %s is not a reference parameter of %s", name, value, parts[1], parts[0])
		}
		inc.Params, inc.TargetType = p.codes(), p.targetType
	}
	if len(parts) == 3 {
		if !profiles.IsResourceType(parts[2]) {
			return inc, invalid(name, "%s=%s: %s is not a resource type", name, value, parts[2])
		}
		inc.TargetType = parts[2]
	}
	return inc, nil
}
