package resources

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/fhirserver/fhirserver/search"
)

func TestMergeIncludesFoldsParametersOfOneSource(t *testing.T) {
	sp := search.Include{Source: "Encounter", Params: []string{"service-provider"}}
	part := search.Include{Source: "Encounter", Params: []string{"participant"}}
	tests := []struct {
		name string
		in   []search.Include
		want []search.Include
	}{
		{"one", []search.Include{sp}, []search.Include{sp}},
		{"same source", []search.Include{sp, part}, []search.Include{{Source: "Encounter", Params: []string{"service-provider", "participant"}}}},
		{"other source", []search.Include{sp, {Source: "Observation", Params: []string{"subject"}}}, []search.Include{sp, {Source: "Observation", Params: []string{"subject"}}}},
		{"target type differs", []search.Include{sp, {Source: "Encounter", Params: []string{"participant"}, TargetType: "Practitioner"}},
			[]search.Include{sp, {Source: "Encounter", Params: []string{"participant"}, TargetType: "Practitioner"}}},
		{"iterate differs", []search.Include{sp, {Source: "Encounter", Params: []string{"participant"}, Iterate: true}},
			[]search.Include{sp, {Source: "Encounter", Params: []string{"participant"}, Iterate: true}}},
		{"reverse kept apart", []search.Include{{Reverse: true, Source: "Provenance", Params: []string{"target"}}, {Reverse: true, Source: "Provenance", Params: []string{"entity"}}},
			[]search.Include{{Reverse: true, Source: "Provenance", Params: []string{"target"}}, {Reverse: true, Source: "Provenance", Params: []string{"entity"}}}},
		{"all parameters kept apart", []search.Include{sp, {Source: "Encounter"}}, []search.Include{sp, {Source: "Encounter"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := append([]search.Include{}, tt.in...)
			assert.Equal(t, tt.want, mergeIncludes(in))
			assert.Equal(t, tt.in, in, "the parsed includes are not changed")
		})
	}
}

// Every care date named is a date parameter of a type in the compartment.
func TestCareDatesAreDateParametersOfCompartmentTypes(t *testing.T) {
	r, err := search.R4()
	if err != nil {
		t.Fatal(err)
	}
	for typ, code := range careDates {
		p := r.Param(typ, code)
		if assert.NotNil(t, p, "%s.%s", typ, code) {
			assert.Equal(t, "date", p.Type, "%s.%s", typ, code)
		}
		assert.NotEmpty(t, r.CompartmentParams(typ), typ)
	}
}
