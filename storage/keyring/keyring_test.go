package keyring_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirserver/fhirserver/storage/keyring"
)

func TestLocalFile(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "keys", "kek")
	k, err := keyring.OpenLocalFile(path)
	require.NoError(t, err)
	info, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), info.Mode().Perm(), "created private")

	plain, wrapped, err := k.NewDataKey(ctx, "audit")
	require.NoError(t, err)
	assert.Len(t, plain, 32)
	assert.NotContains(t, string(wrapped), string(plain))

	again, err := keyring.OpenLocalFile(path)
	require.NoError(t, err, "the same file opens again")
	assert.Equal(t, k.ID(), again.ID())
	got, err := again.Unwrap(ctx, wrapped, "audit")
	require.NoError(t, err)
	assert.Equal(t, plain, got)

	_, err = again.Unwrap(ctx, wrapped, "another purpose")
	assert.Error(t, err, "a key wrapped for one purpose does not unwrap for another")
	other, err := keyring.OpenLocalFile(filepath.Join(t.TempDir(), "kek"))
	require.NoError(t, err)
	_, err = other.Unwrap(ctx, wrapped, "audit")
	assert.Error(t, err, "nor under another key")
	tampered := append([]byte{}, wrapped...)
	tampered[len(tampered)-1] ^= 1
	_, err = again.Unwrap(ctx, tampered, "audit")
	assert.Error(t, err)

	require.NoError(t, os.Chmod(path, 0o644))
	_, err = keyring.OpenLocalFile(path)
	assert.ErrorContains(t, err, "readable by others")
}
