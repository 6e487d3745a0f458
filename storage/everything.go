package storage

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Everything selects a page of Patient/$everything in two parts: first the
// members, the patient (every patient when PatientID is empty) and the
// current resources in its compartment, then the extras, the current
// resources those point at that are not members; each part ordered by type
// and id. A page of members reads the reverse reference index from the
// cursor on and stops when it is full, so a patient of any size is served
// one page at a time; a page of extras computes the members' references
// afresh, which is small next to the members themselves.
type Everything struct {
	PatientID string
	// Links are the (type, parameter) pairs that put a resource in the
	// compartment: every parameter a compartment definition lists.
	LinkTypes, LinkParams []string
	Types                 []string  // only these types (the caller's scopes and _type)
	Since                 time.Time // only versions written at or after (zero: all)
	Snapshot              int64
	// Care, when CareFrom or CareTo is set (start and end), keeps the
	// members of the CareTypes whose care date (a date parameter, as
	// "Type param" in CareParams) overlaps the range; members of other
	// types have no care date and stay.
	CareFrom, CareTo      time.Time
	CareTypes, CareParams []string
	Extras                bool   // the page is of extras (the members are done)
	AfterType, AfterID    string // the last entry of the previous page, in its part
	Limit                 int

	// Keep, when set, is a further condition on every entry, members and
	// extras alike: the caller's limits on each type (a patient/ scope's
	// reach, a narrowed scope's query), as its searches are held to them.
	Keep KeyClause
}

// everythingMembersSQL merges two inputs in (type, id) order, both read
// from indexes in that order: the compartment's reference rows of the
// patient (search_reference_target) and the patient's own versions.
const everythingMembersSQL = `
SELECT DISTINCT ON (k.type, k.id) ` + `%COLUMNS%` + ` FROM (
  SELECT l.type, l.id, l.version FROM search_reference l
   WHERE l.target_type = 'Patient' AND ($1 = '' OR l.target_id = $1)
     AND l.type || ' ' || l.param = ANY($2::text[]) AND (l.type, l.id) > ($6, $7)
  UNION ALL
  SELECT p.type, p.id, p.version FROM resource_version p
   WHERE p.type = 'Patient' AND ($1 = '' OR p.id = $1) AND (p.type, p.id) > ($6, $7)
) k JOIN resource_version v ON v.type = k.type AND v.id = k.id AND v.version = k.version
 WHERE ` + `%CURRENT_V%` + `%KEEP%` + ` AND v.type = ANY($4) AND ($5::timestamptz IS NULL OR v.last_updated >= $5)
   AND ($9::timestamptz IS NULL AND $10::timestamptz IS NULL OR NOT v.type = ANY($11::text[])
     OR EXISTS (SELECT 1 FROM search_date d WHERE d.type = v.type AND d.id = v.id AND d.version = v.version
       AND d.type || ' ' || d.param = ANY($12::text[])
       AND ($9::timestamptz IS NULL OR d.hi > $9) AND ($10::timestamptz IS NULL OR d.lo < $10)))
 ORDER BY k.type, k.id
 LIMIT $8`

// everythingExtrasSQL finds the keys the members point at that are not
// members themselves, distinct (EXCEPT), before reading any version row: most
// references go from member to member or to the same few practitioners.
const everythingExtrasSQL = `
WITH members AS (
  SELECT l.type, l.id, l.version FROM search_reference l
   JOIN resource_version m ON m.type = l.type AND m.id = l.id AND m.version = l.version
   WHERE l.target_type = 'Patient' AND ($1 = '' OR l.target_id = $1)
     AND l.type || ' ' || l.param = ANY($2::text[]) AND ` + `%CURRENT_M%` + `
  UNION
  SELECT p.type, p.id, p.version FROM resource_version p
   WHERE p.type = 'Patient' AND ($1 = '' OR p.id = $1) AND ` + `%CURRENT_P%` + `
), extras AS (
  SELECT r.target_type AS type, r.target_id AS id FROM members mm
    JOIN search_reference r ON r.type = mm.type AND r.id = mm.id AND r.version = mm.version
   WHERE r.target_type = ANY($4) AND (r.target_type, r.target_id) > ($6, $7)
  EXCEPT -- hashed, whatever the planner guesses of the members' number
  SELECT type, id FROM members
)
SELECT ` + `%COLUMNS%` + ` FROM extras x
  JOIN resource_version v ON v.type = x.type AND v.id = x.id
 WHERE ` + `%CURRENT_V%` + `%KEEP%` + ` AND ($5::timestamptz IS NULL OR v.last_updated >= $5)
 ORDER BY v.type, v.id
 LIMIT $8`

// EverythingPage returns one page of Patient/$everything: members, or
// extras when e.Extras; the versions without their resources (Bodies
// reads them).
func (s *Store) EverythingPage(ctx context.Context, e Everything) ([]Version, error) {
	since := nullTime(e.Since)
	types := append([]string{}, e.Types...)
	args := []any{e.PatientID, typeParams(e.LinkTypes, e.LinkParams), e.Snapshot, types, since, e.AfterType, e.AfterID, e.Limit}
	sql := everythingExtrasSQL
	if !e.Extras {
		sql = everythingMembersSQL
		args = append(args, nullTime(e.CareFrom), nullTime(e.CareTo), append([]string{}, e.CareTypes...), typeParams(e.CareTypes, e.CareParams))
	}
	keep := ""
	if e.Keep != nil {
		arg := func(a any) string { args = append(args, a); return fmt.Sprintf("$%d", len(args)) }
		keep = " AND (" + e.Keep(arg, "v") + ")"
	}
	sql = replaceAll(sql, map[string]string{
		"%CURRENT_P%": currentAt("p", "$3"), "%CURRENT_M%": currentAt("m", "$3"),
		"%CURRENT_V%": currentAt("v", "$3"), "%COLUMNS%": keyColumns("v"), "%KEEP%": keep,
	})
	// Planned for its values: an instance's $1 = '' folds away, leaving the
	// patient's id as an index condition.
	return s.versions(ctx, "everything", sql, planned(args)...)
}

// typeParams pairs types and parameters as "Type param" strings, a filter
// on the index rows found for the patient: joined as a table, the pairs led
// the planner to scan every reference of every resource.
func typeParams(types, params []string) []string {
	out := make([]string, len(types))
	for i := range out {
		out[i] = types[i] + " " + params[i]
	}
	return out
}

func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

func replaceAll(s string, r map[string]string) string {
	for k, v := range r {
		s = strings.ReplaceAll(s, k, v)
	}
	return s
}
