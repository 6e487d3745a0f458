package smart_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/fhirserver/fhirserver/outcome"
	"github.com/fhirserver/fhirserver/smart"
	"github.com/fhirserver/fhirserver/storage/oauth"
	"github.com/fhirserver/fhirserver/storage/storagetest"
)

func TestMain(m *testing.M) { storagetest.Main(m) }

func TestRegisterClientStoresTheSecretHashed(t *testing.T) {
	ctx := context.Background()
	db, _ := storagetest.Open(t)
	store := oauth.New(db)
	p, err := smart.New(ctx, smart.Config{Issuer: "https://ehr.example", FHIRBase: "https://ehr.example/fhir", HashCost: bcrypt.MinCost}, store, nil)
	require.NoError(t, err)

	secret, err := p.RegisterClient(ctx, smart.Client{ID: "given", Secret: "s3cret-value", Scopes: []string{"system/*.read"}})
	require.NoError(t, err)
	assert.Equal(t, "s3cret-value", secret)
	stored, err := store.Client(ctx, "given")
	require.NoError(t, err)
	assert.NotContains(t, string(stored.SecretHash), "s3cret-value")
	assert.NoError(t, bcrypt.CompareHashAndPassword(stored.SecretHash, []byte("s3cret-value")))
	assert.Equal(t, []string{"client_credentials"}, stored.GrantTypes, "the default grant")

	generated, err := p.RegisterClient(ctx, smart.Client{ID: "generated", Scopes: []string{"system/*.read"}})
	require.NoError(t, err)
	assert.GreaterOrEqual(t, len(generated), 40, "a generated secret carries 256 bits")

	_, err = p.RegisterClient(ctx, smart.Client{ID: "given", Secret: "other"})
	assert.True(t, outcome.Is(err, outcome.Conflict), "an id is registered once: %v", err)
}

func TestRegisterClientRefusesNonsense(t *testing.T) {
	ctx := context.Background()
	db, _ := storagetest.Open(t)
	store := oauth.New(db)
	p, err := smart.New(ctx, smart.Config{Issuer: "https://ehr.example", HashCost: bcrypt.MinCost}, store, nil)
	require.NoError(t, err)
	tests := []struct {
		name   string
		client smart.Client
		says   string
	}{
		{"no id", smart.Client{}, "id"},
		{"unknown scope", smart.Client{ID: "a", Scopes: []string{"system/*.everything"}}, "scope"},
		{"public with secret", smart.Client{ID: "b", Public: true, Secret: "x"}, "public"},
		{"public client credentials", smart.Client{ID: "c", Public: true}, "client_credentials"},
		{"unsupported grant", smart.Client{ID: "d", GrantTypes: []string{"password"}}, "password"},
		{"relative redirect", smart.Client{ID: "e", RedirectURIs: []string{"/cb"}}, "absolute"},
		{"fragment redirect", smart.Client{ID: "f", RedirectURIs: []string{"https://app.example/cb#x"}}, "fragment"},
		{"plain http redirect", smart.Client{ID: "g", RedirectURIs: []string{"http://app.example/cb"}}, "https"},
		{"bad jwks", smart.Client{ID: "h", JWKS: []byte("{")}, "JWKS"},
	}
	for _, tt := range tests {
		_, err := p.RegisterClient(ctx, tt.client)
		require.Error(t, err, tt.name)
		assert.True(t, outcome.Is(err, outcome.Invalid), "%s: %v", tt.name, err)
		assert.True(t, strings.Contains(err.Error(), tt.says), "%s: %v", tt.name, err)
	}
}

func TestTheTokenKeySurvivesARestart(t *testing.T) {
	ctx := context.Background()
	db, _ := storagetest.Open(t)
	store := oauth.New(db)
	a, err := store.Secret(ctx, func() ([]byte, error) { return []byte(strings.Repeat("a", 32)), nil })
	require.NoError(t, err)
	b, err := store.Secret(ctx, func() ([]byte, error) { return []byte(strings.Repeat("b", 32)), nil })
	require.NoError(t, err)
	assert.Equal(t, a, b, "the first key made is kept")
}
