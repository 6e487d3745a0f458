package oauth

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/fhirserver/fhirserver/storage"
)

// SigningKey is a key that signs id_tokens.
type SigningKey struct {
	KID        string
	Alg        string
	PrivateKey []byte // PKCS #8, DER
	Created    time.Time
}

// SigningKeys returns every signing key, newest first.
func (s *Store) SigningKeys(ctx context.Context) ([]SigningKey, error) {
	rows, err := s.db.Query(ctx, `SELECT kid, alg, private_key, created_at FROM signing_key ORDER BY created_at DESC, kid`)
	if err != nil {
		return nil, fmt.Errorf("storage: signing keys: %w", err)
	}
	keys, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (SigningKey, error) {
		var k SigningKey
		return k, r.Scan(&k.KID, &k.Alg, &k.PrivateKey, &k.Created)
	})
	if err != nil {
		return nil, fmt.Errorf("storage: signing keys: %w", err)
	}
	return keys, nil
}

// PutSigningKey adds a signing key, which becomes the one that signs.
func (s *Store) PutSigningKey(ctx context.Context, k SigningKey) error {
	_, err := s.db.Exec(ctx, storage.AdminAudited(`INSERT INTO signing_key (kid, alg, private_key) VALUES ($1, $2, $3) RETURNING 'kid:' || kid AS target`,
		"signing-key.create", 3), k.KID, k.Alg, k.PrivateKey, storage.Actor(ctx))
	if err != nil {
		return fmt.Errorf("storage: put signing key: %w", err)
	}
	return nil
}
