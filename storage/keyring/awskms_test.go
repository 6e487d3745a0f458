package keyring_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirserver/fhirserver/storage/keyring"
)

var (
	buildKMS sync.Once
	kmsBin   string
	kmsErr   error
)

// localKMS starts local-kms, a KMS-protocol server pinned as a Go tool in
// go.mod, on a free port with its own data, and returns a real SDK client
// for it. Not a mock: the SDK's requests, signatures and errors are real.
func localKMS(t *testing.T) *kms.Client {
	t.Helper()
	buildKMS.Do(func() {
		dir, err := os.MkdirTemp("", "local-kms")
		if err != nil {
			kmsErr = err
			return
		}
		kmsBin = filepath.Join(dir, "local-kms")
		out, err := exec.Command("go", "build", "-o", kmsBin, "github.com/nsmithuk/local-kms").CombinedOutput()
		if err != nil {
			kmsErr = fmt.Errorf("building local-kms: %v: %s", err, out)
		}
	})
	require.NoError(t, kmsErr)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(kmsBin)
	cmd.Env = append(os.Environ(), fmt.Sprintf("PORT=%d", port), "KMS_REGION=eu-west-2", "KMS_ACCOUNT_ID=111122223333",
		"KMS_DATA_PATH="+t.TempDir())
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	endpoint := fmt.Sprintf("http://127.0.0.1:%d", port)
	require.Eventually(t, func() bool {
		r, err := http.Get(endpoint)
		if err == nil {
			r.Body.Close()
		}
		return err == nil
	}, 10*time.Second, 50*time.Millisecond, "local-kms did not start")
	return kms.New(kms.Options{
		Region:       "eu-west-2",
		BaseEndpoint: aws.String(endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
	})
}

func newKey(t *testing.T, client *kms.Client) string {
	t.Helper()
	out, err := client.CreateKey(context.Background(), &kms.CreateKeyInput{})
	require.NoError(t, err)
	return *out.KeyMetadata.KeyId
}

func TestAWSKMS(t *testing.T) {
	client := localKMS(t)
	ctx := context.Background()
	keyID := newKey(t, client)
	k := keyring.NewAWSKMS(client, keyID, time.Minute, 3)
	assert.Equal(t, "aws-kms:"+keyID, k.ID())

	plain, wrapped, err := k.NewDataKey(ctx, "audit chain")
	require.NoError(t, err)
	assert.Len(t, plain, 32)
	got, err := keyring.NewAWSKMS(client, keyID, time.Minute, 3).Unwrap(ctx, wrapped, "audit chain")
	require.NoError(t, err)
	assert.Equal(t, plain, got, "another server unwraps it through KMS")

	t.Run("a wrong encryption context", func(t *testing.T) {
		_, err := keyring.NewAWSKMS(client, keyID, time.Minute, 3).Unwrap(ctx, wrapped, "field encryption")
		assert.Error(t, err)
	})
	t.Run("an unknown key", func(t *testing.T) {
		_, _, err := keyring.NewAWSKMS(client, "11111111-2222-3333-4444-555555555555", time.Minute, 3).NewDataKey(ctx, "audit chain")
		assert.Error(t, err)
	})
	t.Run("a disabled key, and the cache's bounds", func(t *testing.T) {
		cached := keyring.NewAWSKMS(client, keyID, time.Minute, 3)
		_, err := cached.Unwrap(ctx, wrapped, "audit chain") // use 1, from KMS
		require.NoError(t, err)
		_, err = client.DisableKey(ctx, &kms.DisableKeyInput{KeyId: aws.String(keyID)})
		require.NoError(t, err)
		t.Cleanup(func() { _, _ = client.EnableKey(ctx, &kms.EnableKeyInput{KeyId: aws.String(keyID)}) })
		_, err = keyring.NewAWSKMS(client, keyID, time.Minute, 3).Unwrap(ctx, wrapped, "audit chain")
		assert.Error(t, err, "KMS refuses a disabled key")
		for range 2 { // uses 2 and 3, from the cache
			_, err = cached.Unwrap(ctx, wrapped, "audit chain")
			assert.NoError(t, err)
		}
		_, err = cached.Unwrap(ctx, wrapped, "audit chain")
		assert.Error(t, err, "past its uses the cache asks KMS again, which refuses")
		_, _, err = cached.NewDataKey(ctx, "audit chain")
		assert.Error(t, err)
	})
	t.Run("rotation to another key re-wraps the data key", func(t *testing.T) {
		_, err := client.EnableKey(ctx, &kms.EnableKeyInput{KeyId: aws.String(keyID)})
		require.NoError(t, err)
		next := keyring.NewAWSKMS(client, newKey(t, client), time.Minute, 3)
		rewrapped, err := keyring.Rewrap(ctx, k, next, wrapped, "audit chain")
		require.NoError(t, err)
		got, err := next.Unwrap(ctx, rewrapped, "audit chain")
		require.NoError(t, err)
		assert.Equal(t, plain, got, "the same data key under the new key")
		local, err := keyring.OpenLocalFile(filepath.Join(t.TempDir(), "kek"))
		require.NoError(t, err)
		toLocal, err := keyring.Rewrap(ctx, next, local, rewrapped, "audit chain")
		require.NoError(t, err)
		got, err = local.Unwrap(ctx, toLocal, "audit chain")
		require.NoError(t, err)
		assert.Equal(t, plain, got, "and from KMS to a local key file")
	})
}
