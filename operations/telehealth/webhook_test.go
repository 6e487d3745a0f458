package telehealth

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v3"
	"github.com/go-jose/go-jose/v3/jwt"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirserver/fhirserver/outcome"
	"github.com/fhirserver/fhirserver/resources"
	schedstore "github.com/fhirserver/fhirserver/storage/scheduling"
	"github.com/fhirserver/fhirserver/storage/storagetest"
)

// webhook signs a report as LiveKit does: a JWT with the API key as issuer
// and the body's SHA-256 as a claim, signed with the API secret.
func webhook(t *testing.T, key, secret, body string) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: []byte(secret)}, nil)
	require.NoError(t, err)
	sum := sha256.Sum256([]byte(body))
	tok, err := jwt.Signed(signer).Claims(map[string]any{"iss": key, "exp": time.Now().Add(time.Minute).Unix(), "nbf": time.Now().Add(-time.Minute).Unix(),
		"sha256": base64.StdEncoding.EncodeToString(sum[:])}).CompactSerialize()
	require.NoError(t, err)
	return tok
}

// A video token is single use: the first join the video server reports is
// allowed; a second with the same token, or one with a token this server
// never issued, has its participant removed; an unsigned report is
// refused.
func TestVideoTokensAreSingleUse(t *testing.T) {
	lk := startLiveKit(t)
	s, owner := storagetest.Open(t)
	ctx := context.Background()
	svc := &Service{Res: resources.New(s, nil), Store: schedstore.New(s), Providers: []VideoProvider{lk}}
	require.NoError(t, lk.CreateRoom(ctx, "session-e1"))
	require.NoError(t, schedstore.New(s).RecordToken(ctx, "j1", "e1", "patient-p1#j1", "livekit", time.Now().Add(time.Minute)))
	joined := func(identity string) string {
		return `{"event":"participant_joined","room":{"name":"session-e1"},"participant":{"identity":"` + identity + `"}}`
	}
	for _, body := range []string{joined("patient-p1#j1"), joined("patient-p1#j1"), joined("patient-p1#forged")} {
		require.NoError(t, svc.VideoWebhook(ctx, webhook(t, lk.Key, lk.Secret, body), []byte(body)))
	}
	err := svc.VideoWebhook(ctx, webhook(t, lk.Key, "not-the-secret-but-long-enough-anyway", joined("x#y")), []byte(joined("x#y")))
	assert.True(t, outcome.Is(err, outcome.Unauthorized), "%v", err)
	err = svc.VideoWebhook(ctx, webhook(t, lk.Key, lk.Secret, joined("a#b")), []byte(joined("a#c")))
	assert.True(t, outcome.Is(err, outcome.Unauthorized), "a body other than the one signed")

	conn, err := pgx.Connect(ctx, owner)
	require.NoError(t, err)
	defer conn.Close(ctx)
	var kinds string
	require.NoError(t, conn.QueryRow(ctx, `SELECT string_agg(jti || ':' || kind, ',' ORDER BY id) FROM telehealth_token_use`).Scan(&kinds))
	assert.Equal(t, "j1:FIRST,j1:REUSE,forged:UNKNOWN", kinds)
}
