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
	tests := []struct {
		granted []string
		typ     string
		perm    rune
		want    bool
	}{
		{[]string{"system/*.read"}, "Patient", 'r', true},
		{[]string{"system/*.read"}, "Patient", 's', true},
		{[]string{"system/*.read"}, "Patient", 'c', false},
		{[]string{"system/*.read"}, "*", 'r', true},
		{[]string{"system/Patient.write"}, "Patient", 'u', true},
		{[]string{"system/Patient.write"}, "Patient", 'r', false},
		{[]string{"system/Patient.write"}, "Observation", 'c', false},
		{[]string{"system/Patient.rs"}, "*", 'r', false},
		{[]string{"system/Observation.rs", "system/Patient.c"}, "Patient", 'c', true},
		{[]string{"patient/*.read"}, "Patient", 'r', false},
		{[]string{"user/*.cruds"}, "Patient", 'r', false},
		{[]string{"system/Observation.rs?category=laboratory"}, "Observation", 'r', false},
		{[]string{"openid"}, "Patient", 'r', false},
		{nil, "Patient", 'r', false},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, newAccess("c", tt.granted).Allows(tt.typ, tt.perm), "%v %s %c", tt.granted, tt.typ, tt.perm)
	}
}
