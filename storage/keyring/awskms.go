package keyring

import (
	"context"
	"crypto/sha256"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

// AWSKMS keeps the key-encryption key in AWS KMS: data keys are made by
// GenerateDataKey and unwrapped by Decrypt, each bound to its purpose by
// the encryption context. Unwrapped keys are cached for a while and a
// number of uses, so that a busy server does not call KMS per request
// while a disabled key still stops working soon.
type AWSKMS struct {
	client  *kms.Client
	keyID   string
	maxAge  time.Duration
	maxUses int
	mu      sync.Mutex
	cache   map[[32]byte]*cachedKey
}

type cachedKey struct {
	plain []byte
	until time.Time
	uses  int
}

// Cache bounds of unwrapped data keys.
const (
	DefaultCacheAge  = 5 * time.Minute
	DefaultCacheUses = 10000
)

// OpenAWSKMS uses the AWS SDK's default configuration (environment,
// shared config, instance role); endpoint, when set, points it at a
// KMS-protocol server of one's own.
func OpenAWSKMS(ctx context.Context, keyID, endpoint string) (*AWSKMS, error) {
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("keyring: AWS configuration: %w", err)
	}
	client := kms.NewFromConfig(cfg, func(o *kms.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
	})
	return NewAWSKMS(client, keyID, DefaultCacheAge, DefaultCacheUses), nil
}

// NewAWSKMS wraps under keyID through client.
func NewAWSKMS(client *kms.Client, keyID string, maxAge time.Duration, maxUses int) *AWSKMS {
	return &AWSKMS{client: client, keyID: keyID, maxAge: maxAge, maxUses: maxUses, cache: map[[32]byte]*cachedKey{}}
}

func (k *AWSKMS) ID() string { return "aws-kms:" + k.keyID }

func encryptionContext(purpose string) map[string]string {
	return map[string]string{"application": "fhirserver", "purpose": purpose}
}

func (k *AWSKMS) NewDataKey(ctx context.Context, purpose string) ([]byte, []byte, error) {
	out, err := k.client.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{
		KeyId: aws.String(k.keyID), KeySpec: types.DataKeySpecAes256, EncryptionContext: encryptionContext(purpose),
	})
	if err != nil {
		return nil, nil, fmt.Errorf("keyring: KMS GenerateDataKey with %s: %w", k.keyID, err)
	}
	return out.Plaintext, out.CiphertextBlob, nil
}

func (k *AWSKMS) Wrap(ctx context.Context, plain []byte, purpose string) ([]byte, error) {
	out, err := k.client.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String(k.keyID), Plaintext: plain, EncryptionContext: encryptionContext(purpose)})
	if err != nil {
		return nil, fmt.Errorf("keyring: KMS Encrypt with %s: %w", k.keyID, err)
	}
	return out.CiphertextBlob, nil
}

func (k *AWSKMS) Unwrap(ctx context.Context, wrapped []byte, purpose string) ([]byte, error) {
	id := sha256.Sum256(append(append([]byte{}, wrapped...), "\x00"+purpose...))
	k.mu.Lock()
	if c, ok := k.cache[id]; ok && time.Now().Before(c.until) && c.uses < k.maxUses {
		c.uses++
		k.mu.Unlock()
		return c.plain, nil
	}
	delete(k.cache, id)
	k.mu.Unlock()
	out, err := k.client.Decrypt(ctx, &kms.DecryptInput{KeyId: aws.String(k.keyID), CiphertextBlob: wrapped, EncryptionContext: encryptionContext(purpose)})
	if err != nil {
		return nil, fmt.Errorf("keyring: KMS Decrypt with %s for %q: %w", k.keyID, purpose, err)
	}
	k.mu.Lock()
	k.cache[id] = &cachedKey{plain: out.Plaintext, until: time.Now().Add(k.maxAge), uses: 1}
	k.mu.Unlock()
	return out.Plaintext, nil
}
