// Package keyring holds the keys that protect data at rest: a
// key-encryption key kept outside the database wraps the data keys that
// the database stores (the audit chain's HMAC key, field encryption keys).
// A local key file is the default; a cloud KMS can stand in for it.
package keyring

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Provider makes and unwraps data keys under a key-encryption key it
// never hands out.
type Provider interface {
	// NewDataKey makes a fresh 256-bit data key for purpose: its plaintext,
	// to use, and its wrapped form, to store.
	NewDataKey(ctx context.Context, purpose string) (plain, wrapped []byte, err error)
	// Unwrap returns the plaintext of a data key wrapped for purpose; a key
	// wrapped for another purpose, or by another key, does not unwrap.
	Unwrap(ctx context.Context, wrapped []byte, purpose string) ([]byte, error)
	// Wrap wraps an existing data key: what a rotation to a new
	// key-encryption key does with the keys the old one wrapped.
	Wrap(ctx context.Context, plain []byte, purpose string) ([]byte, error)
	// ID names the key-encryption key, stored beside what it wraps.
	ID() string
}

// LocalFile is a key-encryption key in a file of its own (32 random bytes,
// mode 0600), outside the database: the default for development and small
// installations.
type LocalFile struct {
	kek []byte
	id  string
}

// OpenLocalFile reads the key file, creating it on first use. A file that
// others may read is refused: the key must not leak with a backup of the
// data directory's neighbours.
func OpenLocalFile(path string) (*LocalFile, error) {
	kek, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		kek, err = create(path)
	}
	if err != nil {
		return nil, fmt.Errorf("keyring: %w", err)
	}
	info, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("keyring: %w", err)
	}
	if info.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("keyring: %s is readable by others (mode %v); chmod 600 it", path, info.Mode().Perm())
	}
	if len(kek) != 32 {
		return nil, fmt.Errorf("keyring: %s does not hold a 32-byte key", path)
	}
	sum := sha256.Sum256(kek)
	return &LocalFile{kek: kek, id: "local:" + hex.EncodeToString(sum[:8])}, nil
}

func create(path string) ([]byte, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	kek := make([]byte, 32)
	if _, err := rand.Read(kek); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) { // another process made it first
		return os.ReadFile(path)
	}
	if err != nil {
		return nil, err
	}
	if _, err := f.Write(kek); err != nil {
		f.Close()
		return nil, err
	}
	return kek, f.Close()
}

func (l *LocalFile) ID() string { return l.id }

func (l *LocalFile) NewDataKey(_ context.Context, purpose string) ([]byte, []byte, error) {
	plain := make([]byte, 32)
	if _, err := rand.Read(plain); err != nil {
		return nil, nil, err
	}
	wrapped, err := Seal(l.kek, plain, []byte("data key:"+purpose))
	return plain, wrapped, err
}

func (l *LocalFile) Wrap(_ context.Context, plain []byte, purpose string) ([]byte, error) {
	return Seal(l.kek, plain, []byte("data key:"+purpose))
}

// Rewrap moves a data key from one key-encryption key to another: the data
// it protects is not touched.
func Rewrap(ctx context.Context, from, to Provider, wrapped []byte, purpose string) ([]byte, error) {
	plain, err := from.Unwrap(ctx, wrapped, purpose)
	if err != nil {
		return nil, err
	}
	return to.Wrap(ctx, plain, purpose)
}

func (l *LocalFile) Unwrap(_ context.Context, wrapped []byte, purpose string) ([]byte, error) {
	plain, err := Open(l.kek, wrapped, []byte("data key:"+purpose))
	if err != nil {
		return nil, fmt.Errorf("keyring: the data key does not unwrap under %s for %q", l.id, purpose)
	}
	return plain, nil
}

// Seal encrypts with AES-256-GCM under key, binding aad: a random nonce
// followed by the ciphertext and tag.
func Seal(key, plain, aad []byte) ([]byte, error) {
	gcm, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, gcm.NonceSize(), gcm.NonceSize()+len(plain)+gcm.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return gcm.Seal(nonce, nonce, plain, aad), nil
}

// Open decrypts what Seal made with the same key and aad.
func Open(key, sealed, aad []byte) ([]byte, error) {
	gcm, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	if len(sealed) < gcm.NonceSize()+gcm.Overhead() {
		return nil, errors.New("keyring: sealed data is too short")
	}
	return gcm.Open(nil, sealed[:gcm.NonceSize()], sealed[gcm.NonceSize():], aad)
}

func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}
