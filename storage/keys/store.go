package keys

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/fhirserver/fhirserver/storage"
	"github.com/fhirserver/fhirserver/storage/keyring"
)

// Store keeps the data keys in the server's database (data_key), each
// only wrapped by the key provider.
type Store struct {
	db *storage.Store
	q  storage.Querier
}

// New returns the data keys kept in db.
func New(db *storage.Store) *Store { return &Store{db: db, q: db.Querier()} }

// Cipher returns the cipher of the field encryption keys (every
// generation) and the blind index key, made by the key provider on first
// use and stored wrapped.
func (s *Store) Cipher(ctx context.Context, kp keyring.Provider) (*Cipher, error) {
	if _, err := s.dataKey(ctx, kp, fieldPurpose); err != nil {
		return nil, err
	}
	wrapped, err := s.dataKey(ctx, kp, blindPurpose)
	if err != nil {
		return nil, err
	}
	blind, err := kp.Unwrap(ctx, wrapped, blindPurpose)
	if err != nil {
		return nil, err
	}
	c := &Cipher{blind: blind, s: s, kp: kp}
	c.keys.Store(&keySet{byGen: map[int32][]byte{}})
	if err := c.lookNewer(ctx, func(*keySet) bool { return true }); err != nil {
		return nil, err
	}
	return c, nil
}

// dataKey reads (or makes) the newest wrapped data key of a purpose.
func (s *Store) dataKey(ctx context.Context, kp keyring.Provider, purpose string) ([]byte, error) {
	var wrapped []byte
	// Servers starting together agree on one key: the first to take the
	// lock makes it.
	err := s.db.Transact(ctx, func(tx storage.Querier) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('data_key:' || $1))`, purpose); err != nil {
			return err
		}
		err := tx.QueryRow(ctx, `SELECT wrapped FROM data_key WHERE purpose = $1 ORDER BY id DESC LIMIT 1`, purpose).Scan(&wrapped)
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		if _, wrapped, err = kp.NewDataKey(ctx, purpose); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO data_key (purpose, kek, wrapped) VALUES ($1, $2, $3)`, purpose, kp.ID(), wrapped)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("storage: data key %q: %w", purpose, err)
	}
	return wrapped, nil
}

// Rewrap moves every data key (each generation of the field encryption
// key, the blind index key) to the new key-encryption key; `keys rewrap`
// moves the audit key with them (storage/audit).
func (s *Store) Rewrap(ctx context.Context, from, to keyring.Provider) error {
	err := s.db.Transact(ctx, func(tx storage.Querier) error {
		// A rotation meanwhile would make a generation left behind.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('data_key:' || $1))`, fieldPurpose); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT DISTINCT ON (purpose, generation) purpose, generation, wrapped FROM data_key
			ORDER BY purpose, generation, id DESC`)
		if err != nil {
			return err
		}
		type key struct {
			Purpose    string
			Generation int32
			Wrapped    []byte
		}
		keys, err := pgx.CollectRows(rows, pgx.RowToStructByPos[key])
		if err != nil {
			return err
		}
		for _, k := range keys {
			next, err := keyring.Rewrap(ctx, from, to, k.Wrapped, k.Purpose)
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO data_key (purpose, generation, kek, wrapped) VALUES ($1, $2, $3, $4)`, k.Purpose, k.Generation, to.ID(), next); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("storage: rewrap data keys: %w", err)
	}
	return nil
}
