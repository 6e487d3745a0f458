package resources

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// What is encrypted at rest is what the type rules declare, and only that.
func TestProtectionComesFromTheTypeRules(t *testing.T) {
	p := Protection()
	assert.Equal(t, SSNSystem, p.Identifier)
	for typ, want := range map[string][]string{"*": {"note"}, "Patient": {"address"}, "Practitioner": {"address"}, "RelatedPerson": {"address"}, "Person": {"address"}} {
		assert.Equal(t, want, p.Sealed[typ], typ)
	}
	assert.Len(t, p.Sealed, 5)
	assert.Contains(t, p.BlindStrings["Patient"], "address-city")
	assert.Empty(t, p.BlindStrings["Observation"])
	assert.True(t, p.Sensitive["Condition"].Codes["B20"])
	assert.Equal(t, "code", p.Sensitive["Condition"].Element)
	assert.Len(t, p.Sensitive, 1)
}

// Each rule's check is that of its type; a type without one has none.
func TestTypeRulesCheckTheirOwnType(t *testing.T) {
	for _, typ := range []string{"Appointment", "Slot", "Task"} {
		assert.NotNil(t, typeRules[typ].Check, typ)
	}
	assert.Nil(t, typeRules["Observation"].Check)
}
