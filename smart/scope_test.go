package smart

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestParseScope(t *testing.T) {
	tests := []struct {
		in   string
		ok   bool
		want Scope
	}{
		{"system/*.read", true, Scope{Context: "system", Type: "*", Perms: "rs", V1: true}},
		{"system/Patient.write", true, Scope{Context: "system", Type: "Patient", Perms: "cud", V1: true}},
		{"system/*.*", true, Scope{Context: "system", Type: "*", Perms: "cruds", V1: true}},
		{"system/*.cruds", true, Scope{Context: "system", Type: "*", Perms: "cruds"}},
		{"system/Observation.rs", true, Scope{Context: "system", Type: "Observation", Perms: "rs"}},
		{"patient/Observation.rs?category=laboratory", true, Scope{Context: "patient", Type: "Observation", Perms: "rs", Query: "category=laboratory"}},
		{"user/Encounter.c", true, Scope{Context: "user", Type: "Encounter", Perms: "c"}},
		{"system/Observation.sr", false, Scope{}},       // out of order
		{"system/Observation.rr", false, Scope{}},       // repeated
		{"system/Observation.", false, Scope{}},         // no permission
		{"system/Observation.x", false, Scope{}},        // unknown letter
		{"system/Observation.read?x=1", false, Scope{}}, // v1 takes no parameters
		{"system/Unicorn.read", false, Scope{}},         // not a resource type
		{"admin/Patient.read", false, Scope{}},
		{"system/Patient", false, Scope{}},
		{"openid", false, Scope{}},
		{"", false, Scope{}},
	}
	for _, tt := range tests {
		got, ok := ParseScope(tt.in)
		assert.Equal(t, tt.ok, ok, tt.in)
		assert.Equal(t, tt.want, got, tt.in)
	}
}

func TestScopeStrategy(t *testing.T) {
	tests := []struct {
		client []string
		asked  string
		want   bool
	}{
		{[]string{"system/*.read"}, "system/*.read", true},
		{[]string{"system/*.read"}, "system/Patient.read", true},
		{[]string{"system/*.read"}, "system/Patient.rs", true},
		{[]string{"system/*.read"}, "system/Patient.r", true},
		{[]string{"system/*.read"}, "system/Patient.cruds", false},
		{[]string{"system/*.read"}, "system/*.write", false},
		{[]string{"system/*.read"}, "user/Patient.read", false},
		{[]string{"system/*.cruds"}, "system/Observation.write", true},
		{[]string{"system/*.*"}, "system/Observation.cud", true},
		{[]string{"system/Patient.rs"}, "system/Observation.rs", false},
		{[]string{"system/Patient.rs"}, "system/*.rs", false},
		{[]string{"system/Observation.rs"}, "system/Observation.rs?category=laboratory", true},
		{[]string{"system/Observation.rs?category=laboratory"}, "system/Observation.rs", false},
		{[]string{"openid", "launch"}, "launch", true},
		{[]string{"system/*.read"}, "launch", false},
		{[]string{"made-up"}, "made-up", false},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, scopeStrategy(tt.client, tt.asked), "%v asks %s", tt.client, tt.asked)
	}
}

func TestAccessAllows(t *testing.T) {
	backend := func(scopes ...string) *Access { return newAccess("c", scopes) }
	patient := func(scopes ...string) *Access { a := newAccess("c", scopes); a.User, a.Patient = "u", "p1"; return a }
	noPatient := func(scopes ...string) *Access { a := newAccess("c", scopes); a.User = "u"; return a }
	clinician := func(scopes ...string) *Access {
		a := newAccess("c", scopes)
		a.User, a.FHIRUser = "u", "Practitioner/d1"
		return a
	}
	patientUser := func(scopes ...string) *Access {
		a := newAccess("c", scopes)
		a.User, a.FHIRUser, a.Patient = "u", "Patient/p1", "p1"
		return a
	}
	tests := []struct {
		access            *Access
		typ               string
		perm              rune
		want, compartment bool
	}{
		{backend("system/*.read"), "Patient", 'r', true, false},
		{backend("system/*.read"), "Patient", 's', true, false},
		{backend("system/*.read"), "Patient", 'c', false, false},
		{backend("system/*.read"), "*", 'r', true, false},
		{backend("system/Patient.write"), "Patient", 'u', true, false},
		{backend("system/Patient.write"), "Patient", 'r', false, false},
		{backend("system/Patient.write"), "Observation", 'c', false, false},
		{backend("system/Patient.rs"), "*", 'r', false, false},
		{backend("system/Observation.rs", "system/Patient.c"), "Patient", 'c', true, false},
		{backend("patient/*.read"), "Patient", 'r', false, false},
		{backend("user/*.cruds"), "Patient", 'r', false, false},
		{backend("openid"), "Patient", 'r', false, false},
		{backend(), "Patient", 'r', false, false},
		// A user's token: patient scopes need a patient in context and
		// reach only its compartment; system scopes are for backends only.
		{patient("patient/*.read"), "Observation", 'r', true, true},
		{patient("patient/Observation.rs"), "Observation", 's', true, true},
		{patient("patient/Observation.rs"), "Condition", 's', false, false},
		{patient("patient/Observation.rs"), "Observation", 'c', false, false},
		{noPatient("patient/*.read"), "Observation", 'r', false, false},
		{patient("system/*.read"), "Observation", 'r', false, false},
		{clinician("user/*.rs"), "Observation", 'r', true, false},
		{clinician("user/*.rs", "patient/*.rs"), "Observation", 'r', true, false},
		{patientUser("user/*.rs"), "Observation", 'r', true, true},
	}
	for _, tt := range tests {
		g := tt.access.Allows(tt.typ, tt.perm)
		assert.Equal(t, tt.want, g.OK, "%v %s %c", tt.access.Scopes, tt.typ, tt.perm)
		assert.Equal(t, tt.compartment, g.Patient, "compartment: %v %s %c", tt.access.Scopes, tt.typ, tt.perm)
		assert.Empty(t, g.Filters)
	}
}

func TestAccessNarrowedScopes(t *testing.T) {
	lab, vitals := "category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory", "category=vital-signs"
	patient := func(scopes ...string) *Access { a := newAccess("c", scopes); a.User, a.Patient = "u", "p1"; return a }
	tests := []struct {
		access *Access
		typ    string
		perm   rune
		want   Grant
	}{
		{patient("patient/Observation.rs?" + lab), "Observation", 's', Grant{OK: true, Patient: true, Filters: []string{lab}}},
		{patient("patient/Observation.rs?"+lab, "patient/Observation.rs?"+vitals), "Observation", 'r', Grant{OK: true, Patient: true, Filters: []string{lab, vitals}}},
		{patient("patient/Observation.rs?"+lab, "patient/Observation.rs"), "Observation", 's', Grant{OK: true, Patient: true}},
		{patient("patient/Observation.rs?"+lab, "patient/*.rs"), "Observation", 's', Grant{OK: true, Patient: true}},
		{patient("patient/Observation.rs?" + lab), "Condition", 's', Grant{}},
		{patient("patient/Observation.rs?" + lab), "Observation", 'c', Grant{}},
		{patient("patient/Observation.rs?" + lab), "*", 's', Grant{}},
		{newAccess("c", []string{"system/Observation.rs?" + lab}), "Observation", 's', Grant{OK: true, Filters: []string{lab}}},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, tt.access.Allows(tt.typ, tt.perm), "%v %s %c", tt.access.Scopes, tt.typ, tt.perm)
	}
}
