package storage

import (
	"context"
	"strings"
	"time"
)

// Everything selects a page of Patient/$everything: the patient (every
// patient when PatientID is empty), the current resources in its
// compartment, and the current resources those point at, ordered by type
// and id. A page is computed afresh from the indexes, so a patient of any
// size is served one page in memory at a time.
type Everything struct {
	PatientID string
	// Links are the (type, parameter) pairs that put a resource in the
	// compartment: every parameter a compartment definition lists.
	LinkTypes, LinkParams []string
	Types                 []string  // only these types (the caller's scopes and _type)
	Since                 time.Time // only versions written at or after (zero: all)
	Snapshot              int64
	AfterType, AfterID    string // the last entry of the previous page
	Limit                 int
}

const everythingSQL = `
WITH members AS (
  SELECT 'Patient'::text AS type, p.id FROM resource_version p
   WHERE p.type = 'Patient' AND ($1 = '' OR p.id = $1) AND ` + `%CURRENT_P%` + `
  UNION
  SELECT x.type, x.id FROM search_reference x
   JOIN resource_version m ON m.type = x.type AND m.id = x.id AND m.version = x.version
   WHERE x.target_type = 'Patient' AND ($1 = '' OR x.target_id = $1)
     AND x.type || ' ' || x.param = ANY($2::text[]) AND ` + `%CURRENT_M%` + `
), reach AS (
  SELECT type, id FROM members
  UNION
  SELECT r.target_type, r.target_id FROM members mm
   JOIN resource_version m2 ON m2.type = mm.type AND m2.id = mm.id
   JOIN search_reference r ON r.type = m2.type AND r.id = m2.id AND r.version = m2.version
   WHERE r.target_type IS NOT NULL AND ` + `%CURRENT_M2%` + `
)
SELECT ` + `%COLUMNS%` + ` FROM reach
  JOIN resource_version v ON v.type = reach.type AND v.id = reach.id
 WHERE ` + `%CURRENT_V%` + ` AND v.type = ANY($4) AND ($5::timestamptz IS NULL OR v.last_updated >= $5)
   AND (v.type, v.id) > ($6, $7)
 ORDER BY v.type, v.id
 LIMIT $8`

// EverythingPage returns one page of Patient/$everything.
func (s *Store) EverythingPage(ctx context.Context, e Everything) ([]Version, error) {
	var since any
	if !e.Since.IsZero() {
		since = e.Since
	}
	types := append([]string{}, e.Types...)
	// (type, parameter) pairs as "Type param" strings, a filter on the rows
	// the reverse index finds for the patient: joined as a table, the pairs
	// led the planner to scan every reference of every resource.
	links := make([]string, len(e.LinkTypes))
	for i := range links {
		links[i] = e.LinkTypes[i] + " " + e.LinkParams[i]
	}
	sql := replaceAll(everythingSQL, map[string]string{
		"%CURRENT_P%": currentAt("p", "$3"), "%CURRENT_M%": currentAt("m", "$3"), "%CURRENT_M2%": currentAt("m2", "$3"),
		"%CURRENT_V%": currentAt("v", "$3"), "%COLUMNS%": qualified("v"),
	})
	return s.versions(ctx, "everything", sql, e.PatientID, links, e.Snapshot, types, since, e.AfterType, e.AfterID, e.Limit)
}

func replaceAll(s string, r map[string]string) string {
	for k, v := range r {
		s = strings.ReplaceAll(s, k, v)
	}
	return s
}
