package audit

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/fhirserver/fhirserver/storage"
	"github.com/fhirserver/fhirserver/storage/keyring"
)

// keyPurpose binds the wrapped audit key to its use.
const keyPurpose = "audit chain"

// Key returns the audit chain's HMAC key, made by the key provider on
// first use and stored only wrapped: the database alone cannot forge a link.
func (s *Store) Key(ctx context.Context, kp keyring.Provider) ([]byte, error) {
	var kek string
	var wrapped []byte
	latest := func() error {
		return s.q.QueryRow(ctx, `SELECT kek, wrapped FROM audit_key ORDER BY id DESC LIMIT 1`).Scan(&kek, &wrapped)
	}
	err := latest()
	if errors.Is(err, pgx.ErrNoRows) {
		// The first start makes it; of servers starting together, one wins.
		if _, wrapped, err = kp.NewDataKey(ctx, keyPurpose); err != nil {
			return nil, err
		}
		if _, err = s.q.Exec(ctx, `INSERT INTO audit_key (id, kek, wrapped) VALUES (1, $1, $2) ON CONFLICT (id) DO NOTHING`, kp.ID(), wrapped); err == nil {
			err = latest()
		}
	}
	if err != nil {
		return nil, fmt.Errorf("storage: audit key: %w", err)
	}
	key, err := kp.Unwrap(ctx, wrapped, keyPurpose)
	if err != nil {
		return nil, fmt.Errorf("storage: the audit key was wrapped by %s, which the configured key provider (%s) cannot unwrap: %w", kek, kp.ID(), err)
	}
	return key, nil
}

// RewrapKey moves the audit key from one key-encryption key to another,
// as a new row (recorded in the admin audit); the chains it signed are
// untouched and verify as before. The data keys of field encryption move
// on their own (storage.Store.RewrapDataKeys).
func (s *Store) RewrapKey(ctx context.Context, from, to keyring.Provider) error {
	var wrapped []byte
	if err := s.q.QueryRow(ctx, `SELECT wrapped FROM audit_key ORDER BY id DESC LIMIT 1`).Scan(&wrapped); err != nil {
		return fmt.Errorf("storage: audit key: %w", err)
	}
	next, err := keyring.Rewrap(ctx, from, to, wrapped, keyPurpose)
	if err != nil {
		return err
	}
	_, err = s.q.Exec(ctx, storage.AdminAudited(`INSERT INTO audit_key (id, kek, wrapped) SELECT max(id) + 1, $1, $2 FROM audit_key
		RETURNING 'audit-key:' || kek AS target`, "audit-key.rewrap", 2), to.ID(), next, storage.Actor(ctx))
	if err != nil {
		return fmt.Errorf("storage: rewrap audit key: %w", err)
	}
	return nil
}
