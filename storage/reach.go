package storage

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Reach is what a token held to one patient may see: the patient, the
// current members of its compartment (through the "Type param" pairs of
// Links), and the resources that a current member or the patient points
// at (its practitioners, organizations, medications, locations), other
// patients excepted (a Group's members, a Patient.link).
type Reach struct {
	Patient string
	Links   []string // "Type param" pairs, as Everything's
}

// Clause keeps the versions within reach; it reads only the key of its
// alias, so it can check a lead's index rows as well as version rows.
func (r Reach) Clause() KeyClause {
	return func(arg func(any) string, v string) string {
		p, links := arg(r.Patient), arg(r.Links)
		member := func(x string) string {
			return x + ".target_type = 'Patient' AND " + x + ".target_id = " + p + " AND " + x + ".type || ' ' || " + x + ".param = ANY(" + links + ")"
		}
		return "((" + v + ".type = 'Patient' AND " + v + ".id = " + p + ")" +
			" OR EXISTS (SELECT 1 FROM search_reference x WHERE x.type = " + v + ".type AND x.id = " + v + ".id AND x.version = " + v + ".version AND " + member("x") + ")" +
			" OR (" + v + ".type <> 'Patient' AND EXISTS (SELECT 1 FROM search_reference r JOIN resource_version s ON s.type = r.type AND s.id = r.id AND s.version = r.version" +
			" WHERE r.target_type = " + v + ".type AND r.target_id = " + v + ".id AND " + currentAt("s", "0") +
			" AND ((r.type = 'Patient' AND r.id = " + p + ") OR EXISTS (SELECT 1 FROM search_reference m WHERE m.type = r.type AND m.id = r.id AND m.version = r.version AND " + member("m") + ")))))"
	}
}

// Passing returns which of the given versions pass a condition on their
// keys: a check of resources already read against what a token may see.
func (s *Store) Passing(ctx context.Context, clause KeyClause, vs []Version) (map[Key]bool, error) {
	return passing(ctx, s.pool, clause, vs)
}

// Passing is Store.Passing inside the transaction, which sees what it wrote.
func (t *Tx) Passing(ctx context.Context, clause KeyClause, vs []Version) (map[Key]bool, error) {
	return passing(ctx, t.tx, clause, vs)
}

func passing(ctx context.Context, q querier, clause KeyClause, vs []Version) (map[Key]bool, error) {
	out := map[Key]bool{}
	if len(vs) == 0 {
		return out, nil
	}
	types, ids, versions := versionKeys(vs)
	args := []any{types, ids, versions}
	arg := func(a any) string { args = append(args, a); return fmt.Sprintf("$%d", len(args)) }
	sql := `SELECT v.type, v.id FROM unnest($1::text[], $2::text[], $3::bigint[]) AS v(type, id, version) WHERE ` + clause(arg, "v")
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("storage: passing: %w", err)
	}
	keys, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Key, error) {
		var k Key
		return k, row.Scan(&k.Type, &k.ID)
	})
	if err != nil {
		return nil, fmt.Errorf("storage: passing: %w", err)
	}
	for _, k := range keys {
		out[k] = true
	}
	return out, nil
}
