package access_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirserver/fhirserver/resources/access"
	"github.com/fhirserver/fhirserver/search"
	"github.com/fhirserver/fhirserver/storage"
)

// scopes grants what its rules say: "Type.perms" (Type "*" for any),
// each with how it is limited.
type scopes struct {
	rules []rule
}

type rule struct {
	typ, perms string
	patient    bool
	filter     string
}

func (s scopes) Grant(typ string, perm rune) access.Grant {
	var g access.Grant
	for _, r := range s.rules {
		if (r.typ == typ || r.typ == "*") && strings.ContainsRune(r.perms, perm) {
			g.OK, g.Patient = true, r.patient
			if r.filter != "" {
				g.Filters = append(g.Filters, r.filter)
			}
		}
	}
	return g
}

func (s scopes) Names(typ string, perm rune) bool {
	for _, r := range s.rules {
		if r.typ == typ && strings.ContainsRune(r.perms, perm) {
			return true
		}
	}
	return false
}

// The callers of the matrix: each kind of token, each role, with and
// without care relationships.
var (
	care      = &storage.Care{Practitioner: "dr1"}
	clinician = map[string]string{"*": "crus"}
	officer   = map[string]string{"Task": "rus"}
	auditor   = map[string]string{"*": "rs"}

	callers = map[string]access.Caller{
		"backend system/*.cruds":       {ID: "svc", Scopes: scopes{[]rule{{typ: "*", perms: "cruds"}}}},
		"backend system/*.rs":          {ID: "svc", Scopes: scopes{[]rule{{typ: "*", perms: "rs"}}}},
		"backend system/AuditEvent.rs": {ID: "svc", Scopes: scopes{[]rule{{typ: "AuditEvent", perms: "rs"}, {typ: "*", perms: "rs"}}}},
		"clinician user/*.cruds": {ID: "ehr", User: "doc", Role: access.ClinicianRole, Permissions: clinician, Care: care,
			Scopes: scopes{[]rule{{typ: "*", perms: "cruds"}}}},
		"clinician in a patient's context": {ID: "app", User: "doc", Role: access.ClinicianRole, Permissions: clinician, Care: care, Patient: "p1",
			Scopes: scopes{[]rule{{typ: "*", perms: "cruds", patient: true}}}},
		"clinician, narrowed scope": {ID: "app", User: "doc", Role: access.ClinicianRole, Permissions: clinician, Care: care,
			Scopes: scopes{[]rule{{typ: "Observation", perms: "rs", filter: "category=laboratory"}}}},
		"patient's own token": {ID: "portal", User: "pat", FHIRUser: "Patient/p1", Role: "patient", Permissions: map[string]string{"*": "rs"}, Care: care, Patient: "p1",
			Scopes: scopes{[]rule{{typ: "*", perms: "rs", patient: true}}}},
		"privacy officer user/*.cruds": {ID: "ehr", User: "po", Role: access.PrivacyOfficerRole, Permissions: officer,
			Scopes: scopes{[]rule{{typ: "*", perms: "cruds"}}}},
		"auditor user/AuditEvent.rs": {ID: "ehr", User: "aud", Role: access.AuditorRole, Permissions: auditor, Care: care,
			Scopes: scopes{[]rule{{typ: "AuditEvent", perms: "rs"}}}},
		"auditor user/*.rs": {ID: "ehr", User: "aud", Role: access.AuditorRole, Permissions: auditor, Care: care,
			Scopes: scopes{[]rule{{typ: "*", perms: "rs"}}}},
		"registration user/*.cruds": {ID: "ehr", User: "reg", Role: access.RegistrationRole, Permissions: map[string]string{"Patient": "cru", "Encounter": "cru"},
			Scopes: scopes{[]rule{{typ: "*", perms: "cruds"}}}},
		"no scopes":         {ID: "x"},
		"the server itself": access.System("job"),
	}
)

func TestDecisions(t *testing.T) {
	type want struct {
		allowed bool
		patient string
		filters []string
		reason  string // a part of the refusal's reason
	}
	yes := want{allowed: true}
	no := func(reason string) want { return want{reason: reason} }
	for _, tc := range []struct {
		caller, typ string
		i           access.Interaction
		want        want
	}{
		{"backend system/*.cruds", "Observation", access.Read, yes},
		{"backend system/*.cruds", "Observation", access.Delete, yes},
		{"backend system/*.rs", "Observation", access.Search, yes},
		{"backend system/*.rs", "Observation", access.Create, no("scopes do not permit create on Observation")},
		{"backend system/*.rs", "*", access.History, yes},
		{"backend system/*.cruds", "AuditEvent", access.Search, no("scopes do not permit")},
		{"backend system/AuditEvent.rs", "AuditEvent", access.Search, yes},
		{"backend system/*.cruds", "AuditEvent", access.Create, no("written by the server alone")},
		{"backend system/*.cruds", "Observation", access.Tx, no("scopes do not permit transaction")},
		{"clinician user/*.cruds", "Observation", access.Update, yes},
		{"clinician user/*.cruds", "Observation", access.Delete, no("role (clinician) does not permit delete")},
		{"clinician in a patient's context", "Observation", access.Read, want{allowed: true, patient: "p1"}},
		{"clinician in a patient's context", "Observation", access.Create, want{allowed: true, patient: "p1"}},
		{"clinician, narrowed scope", "Observation", access.Search, want{allowed: true, filters: []string{"category=laboratory"}}},
		{"clinician, narrowed scope", "Condition", access.Search, no("scopes do not permit search-type on Condition")},
		{"patient's own token", "Observation", access.Read, want{allowed: true, patient: "p1"}},
		{"patient's own token", "Observation", access.Create, no("role (patient) does not permit create")},
		{"privacy officer user/*.cruds", "Task", access.Update, yes},
		{"privacy officer user/*.cruds", "Patient", access.Read, no("role (privacy-officer) does not permit read on Patient")},
		{"auditor user/AuditEvent.rs", "AuditEvent", access.Search, yes},
		{"auditor user/*.rs", "AuditEvent", access.Search, no("scopes do not permit")},
		{"auditor user/AuditEvent.rs", "AuditEvent", access.Delete, no("written by the server alone")},
		{"registration user/*.cruds", "Patient", access.Create, yes},
		{"registration user/*.cruds", "Observation", access.Read, no("role (registration) does not permit read on Observation")},
		{"no scopes", "Patient", access.Read, no("scopes do not permit read on Patient")},
		{"the server itself", "Observation", access.Delete, yes},
		{"the server itself", "AuditEvent", access.Update, no("written by the server alone")},
	} {
		d := callers[tc.caller].Decide(tc.typ, tc.i)
		name := tc.caller + " " + string(tc.i) + " " + tc.typ
		assert.Equal(t, tc.want.allowed, d.Allowed, name)
		assert.Equal(t, tc.want.patient, d.Patient, name)
		assert.Equal(t, tc.want.filters, d.Filters, name)
		if tc.want.allowed {
			assert.NoError(t, d.Err(), name)
		} else {
			assert.Contains(t, d.Reason, tc.want.reason, name)
			assert.ErrorContains(t, d.Err(), tc.want.reason, name)
		}
	}
}

// The rules built on a decision: writes refuse narrowed scopes, what is
// not checked row by row refuses any limit, break-glass is a clinician's
// at user level, the audit log an auditor's, care relationships are made
// by registration and admin (and by those not held to care).
func TestRulesOverDecisions(t *testing.T) {
	for _, tc := range []struct {
		caller string
		check  func(access.Caller) error
		ok     bool
	}{
		{"clinician in a patient's context", func(c access.Caller) error { return c.AllowWrite("Observation", access.Create) }, true},
		{"clinician, narrowed scope", func(c access.Caller) error { return c.AllowWrite("Observation", access.Update) }, false},
		{"clinician user/*.cruds", func(c access.Caller) error { return c.AllowUnlimited("Observation", access.History) }, true},
		{"clinician in a patient's context", func(c access.Caller) error { return c.AllowUnlimited("Observation", access.History) }, false},
		{"clinician, narrowed scope", func(c access.Caller) error { return c.AllowUnlimited("Observation", access.Search) }, false},
		{"clinician user/*.cruds", access.Caller.MayBreakGlass, true},
		{"clinician in a patient's context", access.Caller.MayBreakGlass, false},
		{"patient's own token", access.Caller.MayBreakGlass, false},
		{"privacy officer user/*.cruds", access.Caller.MayBreakGlass, false},
		{"backend system/*.cruds", access.Caller.MayBreakGlass, false},
		{"auditor user/AuditEvent.rs", func(c access.Caller) error { return c.AllowAudit(access.Search) }, true},
		{"backend system/AuditEvent.rs", func(c access.Caller) error { return c.AllowAudit(access.Read) }, true},
		{"clinician user/*.cruds", func(c access.Caller) error { return c.AllowAudit(access.Search) }, false},
		{"backend system/*.rs", func(c access.Caller) error { return c.MaySearchAll("Appointment") }, true},
		{"clinician user/*.cruds", func(c access.Caller) error { return c.MaySearchAll("Appointment") }, false},
	} {
		err := tc.check(callers[tc.caller])
		if tc.ok {
			assert.NoError(t, err, tc.caller)
		} else {
			assert.Error(t, err, tc.caller)
		}
	}
	assert.True(t, callers["registration user/*.cruds"].MakesCareRelationships())
	assert.True(t, callers["backend system/*.cruds"].MakesCareRelationships(), "not held to care")
	assert.False(t, callers["clinician user/*.cruds"].MakesCareRelationships())
	admin := callers["clinician user/*.cruds"]
	admin.Role = access.AdminRole
	assert.True(t, admin.MakesCareRelationships())
}

// A decision narrows the query itself: a patient's reach and a narrowed
// scope's query become its SQL, a refusal matches nothing, an unlimited
// grant adds nothing.
func TestNarrowing(t *testing.T) {
	reg, err := search.R4()
	require.NoError(t, err)
	n := access.Narrowing{Search: reg, Links: []string{"Observation subject"}}
	sql := func(c access.Caller, typ string, i access.Interaction) string {
		cl := n.Clause(typ, c.Decide(typ, i))
		if cl == nil {
			return ""
		}
		var args []any
		return cl(func(a any) string { args = append(args, a); return "$" }, "v")
	}
	assert.Empty(t, sql(callers["backend system/*.cruds"], "Observation", access.Read))
	assert.Contains(t, sql(callers["clinician in a patient's context"], "Observation", access.Read), "search_reference")
	assert.Contains(t, sql(callers["clinician, narrowed scope"], "Observation", access.Search), "search_token")
	assert.Equal(t, "false", sql(callers["clinician, narrowed scope"], "Condition", access.Search))
	assert.Equal(t, "false", sql(callers["no scopes"], "Patient", access.Read))
}
