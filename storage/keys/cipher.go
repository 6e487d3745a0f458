package keys

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/fhirserver/fhirserver/storage"
	"github.com/fhirserver/fhirserver/storage/keyring"
)

// blindPrefix begins every blind index value.
const blindPrefix = "blind:"

// Cipher seals and opens values under the field encryption keys and
// computes blind index values under the blind index key. It knows no
// resource type: the store applies it to what its Protection names
// (storage.Cipher).
type Cipher struct {
	blind []byte
	keys  atomic.Pointer[keySet]
	mu    sync.Mutex // one look for newer generations at a time
	// s and kp find and unwrap newer generations; nil in a cipher of fixed
	// keys.
	s  *Store
	kp keyring.Provider
}

var _ storage.Cipher = (*Cipher)(nil)

// Blind is the blind index value of a value: a keyed HMAC, so that an
// exact search finds what is stored encrypted without the database
// holding anything it could reverse.
func (c *Cipher) Blind(value string) string {
	m := hmac.New(sha256.New, c.blind)
	m.Write([]byte(value))
	return blindPrefix + hex.EncodeToString(m.Sum(nil))
}

// The field encryption key has generations: a rotation makes a new one,
// under which new writes are sealed, and keeps the older ones, under which
// what was written before stays readable; nothing is rewritten.
//
// The blind index key does not rotate. A blind value is an equality index:
// a search finds a version only by computing the very value it was indexed
// under. With a blind key per generation, every search, conditional write
// and duplicate check would compute and probe a value per generation, and
// the audit log, which records such searches by their blind values, would
// name one SSN differently over time; while the index rows already written
// would stay under the old key anyway, since nothing is rewritten, so a
// rotation of it would protect nothing written before. What a rotation must
// retire is the key that seals the values themselves.
const (
	fieldPurpose = "field encryption"
	blindPurpose = "blind index"
	// keyRefresh is how long a server may go on sealing under a generation
	// after a newer one is made elsewhere: a transaction begun this long
	// after a rotation seals under the new key, on every server.
	keyRefresh = time.Second
)

// generationMarker begins a value sealed under a named generation, which
// follows it (4 bytes, big-endian), as in Tink's key prefixes. A value
// sealed before generations begins with its random nonce instead: it
// shares the marker once in 2^32 values, and then still opens as the first
// generation's.
var generationMarker = []byte{0xfe, 'g', 'e', 'n'}

const generationHeader = 8

var errNoGeneration = errors.New("storage: no field encryption key of that generation")

// keySet is what a server knows of the field encryption keys: never
// changed once published, replaced whole when a newer generation is found.
type keySet struct {
	byGen   map[int32][]byte
	current int32     // the newest generation: new writes are sealed under it
	checked time.Time // when newer generations were last looked for
}

// fieldKeysAfter unwraps the field encryption keys of the generations
// after one, each from its newest row (the newest key-encryption key's).
func (s *Store) fieldKeysAfter(ctx context.Context, kp keyring.Provider, after int32) (map[int32][]byte, error) {
	rows, err := s.q.Query(storage.Unrestricted(ctx), `SELECT DISTINCT ON (generation) generation, wrapped FROM data_key
		WHERE purpose = $1 AND generation > $2 ORDER BY generation, id DESC`, fieldPurpose, after)
	if err != nil {
		return nil, fmt.Errorf("storage: field encryption keys: %w", err)
	}
	keys := map[int32][]byte{}
	var g int32
	var wrapped []byte
	_, err = pgx.ForEachRow(rows, []any{&g, &wrapped}, func() error {
		plain, err := kp.Unwrap(ctx, wrapped, fieldPurpose)
		keys[g] = plain
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("storage: field encryption key %d: %w", g, err)
	}
	return keys, nil
}

// lookNewer adds the generations newer than those known, unless need, run
// once the lock is held, says that another look already did.
func (c *Cipher) lookNewer(ctx context.Context, need func(*keySet) bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	ks := c.keys.Load()
	if !need(ks) {
		return nil
	}
	next := &keySet{byGen: maps.Clone(ks.byGen), current: ks.current, checked: time.Now()}
	if c.s != nil {
		found, err := c.s.fieldKeysAfter(ctx, c.kp, ks.current)
		if err != nil {
			return err
		}
		for g, k := range found {
			next.byGen[g], next.current = k, max(next.current, g)
		}
	}
	c.keys.Store(next)
	return nil
}

// Fresh looks for a newer generation when the last look is older than
// keyRefresh. The store calls it before a transaction takes its
// connection, so that writers waiting for the look hold none that the
// look needs.
func (c *Cipher) Fresh(ctx context.Context) error {
	if c == nil || time.Since(c.keys.Load().checked) < keyRefresh {
		return nil
	}
	return c.lookNewer(ctx, func(ks *keySet) bool { return time.Since(ks.checked) >= keyRefresh })
}

// keyOf is the key of a generation, looked for at once when unknown:
// another server may have sealed under a generation made since this one
// last looked.
func (c *Cipher) keyOf(ctx context.Context, g int32) ([]byte, error) {
	known := func(ks *keySet) bool { _, ok := ks.byGen[g]; return ok }
	if !known(c.keys.Load()) {
		if err := c.lookNewer(ctx, func(ks *keySet) bool { return !known(ks) }); err != nil {
			return nil, err
		}
	}
	if k, ok := c.keys.Load().byGen[g]; ok {
		return k, nil
	}
	return nil, errNoGeneration
}

// Seal seals plain, bound to aad, under the newest generation known, and
// names the generation.
func (c *Cipher) Seal(plain, aad []byte) ([]byte, error) {
	ks := c.keys.Load()
	sealed, err := keyring.Seal(ks.byGen[ks.current], plain, aad)
	if err != nil {
		return nil, err
	}
	out := make([]byte, generationHeader, generationHeader+len(sealed))
	copy(out, generationMarker)
	binary.BigEndian.PutUint32(out[len(generationMarker):], uint32(ks.current))
	return append(out, sealed...), nil
}

// Open opens what Seal sealed under any generation, or a value sealed
// before generations, which the first generation's key sealed.
func (c *Cipher) Open(ctx context.Context, sealed, aad []byte) ([]byte, error) {
	if len(sealed) > generationHeader && bytes.HasPrefix(sealed, generationMarker) {
		key, err := c.keyOf(ctx, int32(binary.BigEndian.Uint32(sealed[len(generationMarker):])))
		if err != nil && !errors.Is(err, errNoGeneration) {
			return nil, err
		}
		if plain, err := keyring.Open(key, sealed[generationHeader:], aad); err == nil {
			return plain, nil
		}
	}
	return keyring.Open(c.keys.Load().byGen[1], sealed, aad)
}

// Rotate makes the next generation of the field encryption key, wrapped
// by the cipher's key provider, and returns its number. New writes are
// sealed under it: at once by this cipher, within keyRefresh by the
// others. Recorded in the admin audit.
func (c *Cipher) Rotate(ctx context.Context) (int32, error) {
	if c == nil || c.s == nil || c.kp == nil {
		return 0, errors.New("storage: rotate data key: no field encryption key provider")
	}
	_, wrapped, err := c.kp.NewDataKey(ctx, fieldPurpose)
	if err != nil {
		return 0, err
	}
	var g int32
	err = c.s.db.Transact(ctx, func(tx storage.Querier) error {
		// Two rotations at once make two generations, not one twice.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('data_key:' || $1))`, fieldPurpose); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, storage.AdminAudited(`INSERT INTO data_key (purpose, kek, wrapped, generation)
			SELECT $1, $2, $3, max(generation) + 1 FROM data_key WHERE purpose = $1
			RETURNING 'data-key:' || purpose || ':' || generation AS target`, "data-key.rotate", 3),
			fieldPurpose, c.kp.ID(), wrapped, storage.Actor(ctx))
		if err != nil {
			return err
		}
		return tx.QueryRow(ctx, `SELECT max(generation) FROM data_key WHERE purpose = $1`, fieldPurpose).Scan(&g)
	})
	if err != nil {
		return 0, fmt.Errorf("storage: rotate data key: %w", err)
	}
	return g, c.lookNewer(ctx, func(ks *keySet) bool { return ks.current < g })
}
