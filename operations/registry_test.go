package operations_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirserver/fhirserver/operations"
	"github.com/fhirserver/fhirserver/resources"
)

func handler(context.Context, *operations.Request) (resources.Result, error) {
	return resources.Result{Status: http.StatusOK}, nil
}

func TestRegistryRefuses(t *testing.T) {
	tests := []struct {
		name string
		op   operations.Operation
	}{
		{"no code", operations.Operation{Types: []string{"Patient"}, Levels: operations.Type, Handler: handler}},
		{"a $ in the code", operations.Operation{Code: "$x", Types: []string{"Patient"}, Levels: operations.Type, Handler: handler}},
		{"no level", operations.Operation{Code: "x", Types: []string{"Patient"}, Handler: handler}},
		{"an unknown level", operations.Operation{Code: "x", Types: []string{"Patient"}, Levels: 8, Handler: handler}},
		{"types at system level", operations.Operation{Code: "x", Types: []string{"Patient"}, Levels: operations.System, Handler: handler}},
		{"no types named", operations.Operation{Code: "x", Types: []string{}, Levels: operations.Type, Handler: handler}},
		{"GET that affects state", operations.Operation{Code: "x", Types: []string{"Patient"}, Levels: operations.Type, Methods: operations.Get | operations.Post, AffectsState: true, Handler: handler}},
		{"no handler", operations.Operation{Code: "x", Types: []string{"Patient"}, Levels: operations.Type}},
		{"an unknown audit action", operations.Operation{Code: "x", Types: []string{"Patient"}, Levels: operations.Type, AuditAction: "X", Handler: handler}},
		{"a parameter without a type or parts", operations.Operation{Code: "x", Types: []string{"Patient"}, Levels: operations.Type, Params: []operations.Param{{Name: "p", Use: "in", Min: "0", Max: "1"}}, Handler: handler}},
		{"a parameter neither in nor out", operations.Operation{Code: "x", Types: []string{"Patient"}, Levels: operations.Type, Params: []operations.Param{{Name: "p", Use: "both", Min: "0", Max: "1", Type: "string"}}, Handler: handler}},
		{"published and canonical", operations.Operation{Code: "x", Types: []string{"Patient"}, Levels: operations.Type, Published: []byte(`{"url":"u"}`), Canonical: "u", Handler: handler}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var r operations.Registry
			assert.Error(t, r.Add(&tc.op))
			assert.Empty(t, r.All())
		})
	}
}

func TestRegistryRefusesDuplicates(t *testing.T) {
	var r operations.Registry
	require.NoError(t, r.Add(&operations.Operation{Code: "find", Types: []string{"Appointment"}, Levels: operations.Type, Handler: handler}))
	require.NoError(t, r.Add(&operations.Operation{Code: "find", Types: []string{"Slot"}, Levels: operations.Type, Handler: handler}), "the same code on another type")
	require.NoError(t, r.Add(&operations.Operation{Code: "validate", Levels: operations.Instance, Handler: handler}))
	for _, dup := range []*operations.Operation{
		{Code: "find", Types: []string{"Schedule", "Appointment"}, Levels: operations.Type | operations.Instance, Handler: handler},
		{Code: "validate", Types: []string{"Patient"}, Levels: operations.Instance, Handler: handler}, // every type has it
		{Code: "validate", Levels: operations.Type | operations.Instance, Handler: handler},
		// One operation, one definition: its levels are one declaration.
		{Code: "find", Types: []string{"Appointment"}, Levels: operations.Instance, Handler: handler},
	} {
		assert.Error(t, r.Add(dup), "$%s on %v", dup.Code, dup.Types)
	}
	assert.Len(t, r.All(), 3)
}

// Levels, methods and types decide the definition's flags and where the
// operation runs; GET only where declared, POST by default.
func TestOperationLevels(t *testing.T) {
	var r operations.Registry
	everything := &operations.Operation{Code: "everything", Types: []string{"Patient"}, Levels: operations.Type | operations.Instance, Methods: operations.Get, Handler: handler}
	validate := &operations.Operation{Code: "validate", Levels: operations.Type | operations.Instance, Methods: operations.Get | operations.Post, Handler: handler}
	book := &operations.Operation{Code: "book", Types: []string{"Appointment"}, Levels: operations.Type, AffectsState: true, AuditAction: "C", Handler: handler}
	export := &operations.Operation{Code: "export", Levels: operations.System, Handler: handler}
	for _, o := range []*operations.Operation{everything, validate, book, export} {
		require.NoError(t, r.Add(o))
	}
	assert.Equal(t, []*operations.Operation{everything, validate, book, export}, r.All(), "in the order added")

	assert.True(t, everything.Allows(http.MethodGet))
	assert.False(t, everything.Allows(http.MethodPost))
	assert.True(t, book.Allows(http.MethodPost))
	assert.False(t, book.Allows(http.MethodGet), "it affects state")
	assert.False(t, validate.Allows(http.MethodPut))

	assert.True(t, everything.RunsOn("Patient"))
	assert.False(t, everything.RunsOn("Observation"))
	assert.True(t, validate.RunsOn("Observation"), "every type")
	assert.False(t, export.RunsOn("Patient"), "system level only")

	assert.Equal(t, "E", everything.Action())
	assert.Equal(t, "C", book.Action())

	tests := []struct {
		op                    *operations.Operation
		id                    string
		resource              []string
		system, typ, instance bool
	}{
		{everything, "Patient-everything", []string{"Patient"}, false, true, true},
		{validate, "Resource-validate", []string{"Resource"}, false, true, true},
		{book, "Appointment-book", []string{"Appointment"}, false, true, false},
		{export, "export", nil, true, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.id, func(t *testing.T) {
			assert.Same(t, tc.op, r.ByID(tc.id))
			b, err := tc.op.Definition()
			require.NoError(t, err)
			var def struct {
				ID, URL, Code          string
				Resource               []string
				System, Type, Instance bool
				AffectsState           bool
			}
			require.NoError(t, json.Unmarshal(b, &def))
			assert.Equal(t, tc.id, def.ID)
			assert.Equal(t, operations.Base+tc.id, def.URL)
			assert.Equal(t, tc.op.Code, def.Code)
			assert.Equal(t, tc.resource, def.Resource)
			assert.Equal(t, [3]bool{tc.system, tc.typ, tc.instance}, [3]bool{def.System, def.Type, def.Instance})
			assert.Equal(t, tc.op.AffectsState, def.AffectsState)
			assert.Equal(t, map[string]string{"name": tc.op.Code, "definition": def.URL}, tc.op.Entry())
		})
	}
	assert.Nil(t, r.ByID("Patient-nope"))
}

// A published definition is served as published, under this server's id,
// and claimed under its own canonical with how this server answers it.
func TestPublishedDefinition(t *testing.T) {
	o := &operations.Operation{Code: "docref", Types: []string{"DocumentReference"}, Levels: operations.Type, Handler: handler,
		Published: []byte(`{"resourceType":"OperationDefinition","id":"docref","url":"http://example.org/OperationDefinition/docref","code":"docref"}`), Doc: "as a search"}
	var r operations.Registry
	require.NoError(t, r.Add(o))
	assert.Equal(t, "http://example.org/OperationDefinition/docref", o.URL())
	assert.Equal(t, map[string]string{"name": "docref", "definition": o.URL(), "documentation": "as a search"}, o.Entry())
	b, err := o.Definition()
	require.NoError(t, err)
	assert.JSONEq(t, `{"resourceType":"OperationDefinition","id":"DocumentReference-docref","url":"http://example.org/OperationDefinition/docref","code":"docref"}`, string(b))
}
