package smart

import (
	"context"
	"crypto"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"fmt"

	"github.com/go-jose/go-jose/v3"

	"github.com/fhirserver/fhirserver/storage"
	"github.com/fhirserver/fhirserver/storage/oauth"
)

// keyStore keeps the keys that sign id_tokens.
type keyStore interface {
	SigningKeys(ctx context.Context) ([]oauth.SigningKey, error)
	PutSigningKey(ctx context.Context, k oauth.SigningKey) error
}

// idTokenAlg is the algorithm of id_tokens: SMART requires RS256 support.
const idTokenAlg = "RS256"

// signingKeys reads the stored keys, newest first, making the first one
// on first start. They are read on every use so that a rotation by
// another process (fhirserver keys rotate) takes effect at once.
func signingKeys(ctx context.Context, db keyStore) ([]jose.JSONWebKey, error) {
	stored, err := db.SigningKeys(ctx)
	if err != nil {
		return nil, err
	}
	if len(stored) == 0 {
		if err := rotateKey(storage.WithActor(ctx, "server:first-start"), db); err != nil {
			return nil, err
		}
		if stored, err = db.SigningKeys(ctx); err != nil {
			return nil, err
		}
	}
	keys := make([]jose.JSONWebKey, 0, len(stored))
	for _, k := range stored {
		priv, err := x509.ParsePKCS8PrivateKey(k.PrivateKey)
		if err != nil {
			return nil, fmt.Errorf("signing key %s: %w", k.KID, err)
		}
		keys = append(keys, jose.JSONWebKey{Key: priv, KeyID: k.KID, Algorithm: k.Alg, Use: "sig"})
	}
	return keys, nil
}

// rotateKey makes a new RSA key that signs from now on; the older keys stay
// in the JWKS, so id_tokens they signed still verify.
func rotateKey(ctx context.Context, db keyStore) error {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return err
	}
	thumb, err := (&jose.JSONWebKey{Key: priv.Public()}).Thumbprint(crypto.SHA256)
	if err != nil {
		return err
	}
	return db.PutSigningKey(ctx, oauth.SigningKey{KID: base64.RawURLEncoding.EncodeToString(thumb), Alg: idTokenAlg, PrivateKey: der})
}

// RotateSigningKey makes a new id_token signing key.
func (p *Provider) RotateSigningKey(ctx context.Context) error { return rotateKey(ctx, p.db) }

// signingKey is fosite's key getter: the newest key.
func (p *Provider) signingKey(ctx context.Context) (any, error) {
	keys, err := signingKeys(ctx, p.db)
	if err != nil {
		return nil, err
	}
	return &keys[0], nil
}

// JWKS is the public half of every signing key.
func (p *Provider) JWKS(ctx context.Context) (jose.JSONWebKeySet, error) {
	keys, err := signingKeys(ctx, p.db)
	if err != nil {
		return jose.JSONWebKeySet{}, err
	}
	set := jose.JSONWebKeySet{Keys: make([]jose.JSONWebKey, 0, len(keys))}
	for _, k := range keys {
		set.Keys = append(set.Keys, k.Public())
	}
	return set, nil
}

// secretFor derives a key for one purpose (cookies, CSRF) from the
// server's secret, so that one leaked derivation reveals nothing else.
func secretFor(secret []byte, purpose string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(purpose))
	return m.Sum(nil)
}

func keyID(key any) string {
	if k, ok := key.(*jose.JSONWebKey); ok {
		return k.KeyID
	}
	return ""
}
