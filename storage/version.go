package storage

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
)

// Key names a resource.
type Key struct{ Type, ID string }

func (k Key) String() string { return k.Type + "/" + k.ID }

// Head is the current version of a resource.
type Head struct {
	Version int64
	Deleted bool
}

// Version is one stored version of a resource. Resource is nil for a
// tombstone.
type Version struct {
	Key
	Version     int64
	Seq         int64
	LastUpdated time.Time
	Method      string
	Deleted     bool
	Resource    []byte
}

// Row is a version to append. Resource must already carry its id and meta.
type Row struct {
	Key
	Version  int64
	Method   string
	Deleted  bool
	Resource []byte
	Index    Index // the search index entries of this version
}

const versionColumns = `type, id, version, seq, last_updated, method, deleted, resource`

// scanVersion reads versionColumns, then into extra any columns after them.
func scanVersion(row pgx.Row, extra ...any) (Version, error) {
	var v Version
	err := row.Scan(append([]any{&v.Type, &v.ID, &v.Version, &v.Seq, &v.LastUpdated, &v.Method, &v.Deleted, &v.Resource}, extra...)...)
	return v, err
}

// Read returns the current version of a resource: ErrNotFound if it never
// existed, and the tombstone together with ErrGone if it is deleted.
func (s *Store) Read(ctx context.Context, k Key) (Version, error) {
	return read(ctx, s.pool, s.cipher, k)
}

// Read is Store.Read inside the transaction.
func (t *Tx) Read(ctx context.Context, k Key) (Version, error) {
	return read(ctx, t.tx, t.cipher, k)
}

// readCurrentSQL finds the current version by walking the primary key
// backwards from (type, id, +inf): one index descent.
const readCurrentSQL = `SELECT ` + versionColumns + ` FROM resource_version
	WHERE type = $1 AND id = $2 ORDER BY version DESC LIMIT 1`

func read(ctx context.Context, q querier, c *fieldCipher, k Key) (Version, error) {
	v, err := scanVersion(q.QueryRow(ctx, readCurrentSQL, k.Type, k.ID))
	if err == nil && len(v.Resource) > 0 {
		v.Resource, err = c.open(ctx, v.Resource)
	}
	return found(v, err)
}

// VRead returns one version: ErrNotFound if it does not exist, the
// tombstone with ErrGone if that version is a deletion.
func (s *Store) VRead(ctx context.Context, k Key, version int64) (Version, error) {
	return vread(ctx, s.pool, s.cipher, k, version)
}

// VRead is Store.VRead inside the transaction.
func (t *Tx) VRead(ctx context.Context, k Key, version int64) (Version, error) {
	return vread(ctx, t.tx, t.cipher, k, version)
}

func vread(ctx context.Context, q querier, c *fieldCipher, k Key, version int64) (Version, error) {
	v, err := scanVersion(q.QueryRow(ctx, `SELECT `+versionColumns+` FROM resource_version
		WHERE type = $1 AND id = $2 AND version = $3`, k.Type, k.ID, version))
	if err == nil && len(v.Resource) > 0 {
		v.Resource, err = c.open(ctx, v.Resource)
	}
	return found(v, err)
}

func found(v Version, err error) (Version, error) {
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return v, ErrNotFound
	case err != nil:
		return v, fmt.Errorf("storage: read: %w", err)
	case v.Deleted:
		return v, ErrGone
	}
	return v, nil
}

// Heads returns the current version of each key that exists, deleted or
// not, in one query.
func (t *Tx) Heads(ctx context.Context, keys []Key) (map[Key]Head, error) {
	heads := make(map[Key]Head, len(keys))
	if len(keys) == 0 {
		return heads, nil
	}
	types, ids := make([]string, len(keys)), make([]string, len(keys))
	for i, k := range keys {
		types[i], ids[i] = k.Type, k.ID
	}
	rows, err := t.tx.Query(ctx, `SELECT k.type, k.id, h.version, h.deleted
		FROM unnest($1::text[], $2::text[]) AS k(type, id)
		CROSS JOIN LATERAL (SELECT version, deleted FROM resource_version v
			WHERE v.type = k.type AND v.id = k.id ORDER BY version DESC LIMIT 1) h`, types, ids)
	if err != nil {
		return nil, fmt.Errorf("storage: heads: %w", err)
	}
	var k Key
	var h Head
	_, err = pgx.ForEachRow(rows, []any{&k.Type, &k.ID, &h.Version, &h.Deleted}, func() error {
		heads[k] = h
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("storage: heads: %w", err)
	}
	return heads, nil
}

// Append writes version rows and their search index rows. Two writers of the
// same version collide on the primary key; InTx then runs again.
func (t *Tx) Append(ctx context.Context, rows []Row) error {
	if len(rows) == 0 {
		return nil
	}
	if t.cipher != nil {
		sealed := make([]Row, len(rows))
		for i, r := range rows {
			var err error
			if r.Resource, err = t.cipher.seal(r.Type, r.Index, r.Resource); err != nil {
				return fmt.Errorf("storage: append: %w", err)
			}
			r.Index.Tokens, r.Index.Strings = slices.Clone(r.Index.Tokens), slices.Clone(r.Index.Strings)
			t.cipher.blindIndex(r.Type, &r.Index)
			sealed[i] = r
		}
		rows = sealed
	}
	var err error
	if _, care := identity(ctx); len(rows) >= copyThreshold && care == nil { // no COPY under row-level security
		err = t.appendCopy(ctx, rows)
	} else {
		err = t.appendInsert(ctx, rows)
	}
	if err != nil {
		return fmt.Errorf("storage: append: %w", err)
	}
	return nil
}

// copyThreshold is the number of rows from which COPY beats INSERT: COPY
// costs a round trip more, but PostgreSQL inserts its rows in bulk.
const copyThreshold = 32

func (t *Tx) appendInsert(ctx context.Context, rows []Row) error {
	n := len(rows)
	types, ids, methods := make([]string, n), make([]string, n), make([]string, n)
	versions, deleted := make([]int64, n), make([]bool, n)
	resources := make([]*string, n)
	patients := make([]*string, n) // each a text[] literal, or NULL
	for i, r := range rows {
		types[i], ids[i], versions[i], methods[i], deleted[i] = r.Type, r.ID, r.Version, r.Method, r.Deleted
		if !r.Deleted {
			s := string(r.Resource)
			resources[i] = &s
		}
		if ps := patientsOf(r); len(ps) > 0 {
			lit := arrayLiteral(ps)
			patients[i] = &lit
		}
	}
	b := &pgx.Batch{}
	b.Queue(`INSERT INTO resource_version (type, id, version, last_updated, method, deleted, resource, patients)
		SELECT t, i, v, $4, m, d, r::jsonb, p::text[]
		FROM unnest($1::text[], $2::text[], $3::bigint[], $5::text[], $6::bool[], $7::text[], $8::text[]) AS x(t, i, v, m, d, r, p)`,
		types, ids, versions, t.now, methods, deleted, resources, patients)
	queueIndex(b, rows)
	return t.tx.SendBatch(ctx, b).Close()
}

var copyVersionCols = []string{"type", "id", "version", "last_updated", "method", "deleted", "resource", "patients"}

func (t *Tx) appendCopy(ctx context.Context, rows []Row) error {
	versions := make([][]any, len(rows))
	for i, r := range rows {
		var resource any // NULL for a tombstone
		if !r.Deleted {
			resource = r.Resource // []byte goes to jsonb as JSON text, uncopied
		}
		var patients any // NULL: no patient
		if ps := patientsOf(r); len(ps) > 0 {
			patients = ps
		}
		versions[i] = []any{r.Type, r.ID, r.Version, t.now, r.Method, r.Deleted, resource, patients}
	}
	if _, err := t.tx.CopyFrom(ctx, pgx.Identifier{"resource_version"}, copyVersionCols, pgx.CopyFromRows(versions)); err != nil {
		return err
	}
	return copyIndex(ctx, t.tx.Conn().PgConn(), rows)
}
