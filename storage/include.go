package storage

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// currentAt is the condition that version alias v is current (and not
// deleted) as of snapshot $n (0: now).
func currentAt(v, snap string) string {
	return "NOT " + v + ".deleted AND (" + snap + " = 0 OR " + v + ".seq <= " + snap + ") AND NOT EXISTS (SELECT 1 FROM resource_version n WHERE n.type = " +
		v + ".type AND n.id = " + v + ".id AND n.version > " + v + ".version AND (" + snap + " = 0 OR n.seq <= " + snap + "))"
}

// Referenced returns the current versions of the local resources that the
// given versions point at through any of params (all reference parameters
// when params is empty), limited to targetType when it is set: what
// _include adds to a page. Their resources are left out (Bodies reads
// them): a page holds its keys, and its bodies a chunk at a time.
func (s *Store) Referenced(ctx context.Context, from []Version, params []string, targetType string, snapshot int64) ([]Version, error) {
	if len(from) == 0 {
		return nil, nil
	}
	types, ids, versions := versionKeys(from)
	params = append([]string{}, params...) // never NULL: cardinality(NULL) is not 0
	// The targets first, each once: a page's fifty encounters name the
	// same organization fifty times, and each version row read is a
	// whole resource.
	sql := `WITH t AS (SELECT DISTINCT x.target_type, x.target_id FROM unnest($1::text[], $2::text[], $3::bigint[]) AS f(type, id, version)
		JOIN search_reference x ON x.type = f.type AND x.id = f.id AND x.version = f.version
		WHERE (cardinality($4::text[]) = 0 OR x.param = ANY($4)) AND ($5 = '' OR x.target_type = $5) AND x.target_id IS NOT NULL)
		SELECT ` + keyColumns("v") + ` FROM t JOIN resource_version v ON v.type = t.target_type AND v.id = t.target_id
		WHERE ` + currentAt("v", "$6") + ` ORDER BY v.type, v.id`
	return s.versions(ctx, "include", sql, types, ids, versions, params, targetType, snapshot) // one plan fits all: the keys drive
}

// Referencing returns the current versions of srcType that point at any of
// the given resources through params (any reference parameter when
// empty): what _revinclude adds to a page; without their resources, as
// Referenced.
func (s *Store) Referencing(ctx context.Context, to []Version, srcType string, params []string, snapshot int64) ([]Version, error) {
	if len(to) == 0 {
		return nil, nil
	}
	types, ids, _ := versionKeys(to)
	params = append([]string{}, params...)
	sql := `WITH s AS (SELECT DISTINCT x.type, x.id, x.version FROM unnest($1::text[], $2::text[]) AS t(type, id)
		JOIN search_reference x ON x.target_type = t.type AND x.target_id = t.id
		WHERE x.type = $3 AND (cardinality($4::text[]) = 0 OR x.param = ANY($4)))
		SELECT ` + keyColumns("v") + ` FROM s JOIN resource_version v ON v.type = s.type AND v.id = s.id AND v.version = s.version
		WHERE ` + currentAt("v", "$5") + ` ORDER BY v.type, v.id`
	return s.versions(ctx, "revinclude", sql, types, ids, srcType, params, snapshot) // one plan fits all: the keys drive
}

func versionKeys(vs []Version) (types, ids []string, versions []int64) {
	for _, v := range vs {
		types, ids, versions = append(types, v.Type), append(ids, v.ID), append(versions, v.Version)
	}
	return types, ids, versions
}

// qualified is versionColumns of the version row named v.
func qualified(v string) string { return keyPart(v) + v + ".resource" }

// keyColumns are versionColumns without the resource, read as NULL: a
// page's keys are read first, its bodies after its audit record.
func keyColumns(v string) string { return keyPart(v) + "NULL" }

func keyPart(v string) string {
	return v + ".type, " + v + ".id, " + v + ".version, " + v + ".seq, " + v + ".last_updated, " + v + ".method, " + v + ".deleted, "
}

// Bodies fills in the resources of vs, each read by its exact version.
// Version rows never change, so bodies read after a page's keys (and
// after its audit record) are those of the keys read. A version gone
// missing is an error, never a page with an entry less.
func (s *Store) Bodies(ctx context.Context, vs []Version) error {
	types, ids, versions := versionKeys(vs)
	rows, err := s.pool.Query(ctx, `SELECT v.resource FROM unnest($1::text[], $2::text[], $3::bigint[]) WITH ORDINALITY AS k(type, id, version, n)
		JOIN resource_version v ON v.type = k.type AND v.id = k.id AND v.version = k.version ORDER BY k.n`, types, ids, versions)
	if err != nil {
		return fmt.Errorf("storage: bodies: %w", err)
	}
	bodies, err := pgx.CollectRows(rows, pgx.RowTo[[]byte])
	if err != nil {
		return fmt.Errorf("storage: bodies: %w", err)
	}
	if len(bodies) != len(vs) {
		// Not ErrNotFound: the client asked for nothing missing; the store
		// lost a row it had just listed.
		return fmt.Errorf("storage: bodies: %d of %d versions read", len(bodies), len(vs))
	}
	for i := range vs {
		vs[i].Resource = bodies[i]
	}
	if _, err := s.cipher.opened(ctx, vs); err != nil {
		return fmt.Errorf("storage: bodies: %w", err)
	}
	return nil
}

// versions runs a query of versions; args may start with an exec mode
// (planned) to have it planned for its values.
func (s *Store) versions(ctx context.Context, what, sql string, args ...any) ([]Version, error) {
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("storage: %s: %w", what, err)
	}
	vs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Version, error) { return scanVersion(r) })
	if err == nil {
		vs, err = s.cipher.opened(ctx, vs)
	}
	if err != nil {
		return nil, fmt.Errorf("storage: %s: %w", what, err)
	}
	return vs, nil
}
