package smart

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ory/fosite"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/fhirserver/fhirserver/storage/oauth"
	"github.com/fhirserver/fhirserver/storage/storagetest"
)

// Concurrent exchanges of one refresh token get one new pair of tokens
// between them: the rotation is one statement, and an exchange that finds
// the token rotated under it issues nothing (invalid_request), while one
// that comes after it is a reuse that revokes the grant (invalid_grant).
// Never may two exchanges both succeed, leaving two live refresh tokens.
func TestConcurrentRefreshesRotateOnce(t *testing.T) {
	ctx := context.Background()
	db, _ := storagetest.Open(t)
	store := oauth.New(db)
	p, err := New(ctx, Config{Issuer: "https://ehr.example", FHIRBase: "https://ehr.example/fhir", HashCost: bcrypt.MinCost}, store, nil)
	require.NoError(t, err)
	app := oauth.Client{ID: "app", Public: true, GrantTypes: []string{"authorization_code", "refresh_token"},
		ResponseTypes: []string{"code"}, Scopes: []string{"openid", "offline_access", "patient/*.rs"}, RedirectURIs: []string{"https://app.example/cb"}}
	require.NoError(t, store.PutClient(ctx, app))

	// The grant as the code exchange leaves it: a refresh token in the store.
	session := newSession()
	session.Subject, session.User = "doc", "doc"
	session.SetExpiresAt(fosite.RefreshToken, time.Now().Add(time.Hour))
	grant := &fosite.Request{ID: "grant-1", RequestedAt: time.Now(), Client: fositeClient(app), Session: session,
		RequestedScope: fosite.Arguments{"offline_access", "patient/*.rs"}, GrantedScope: fosite.Arguments{"offline_access", "patient/*.rs"},
		Form: url.Values{}}
	refresh, signature, err := p.tokens.GenerateRefreshToken(ctx, grant)
	require.NoError(t, err)
	require.NoError(t, fositeStore{store}.CreateRefreshTokenSession(ctx, signature, "", grant))

	const racers = 6
	codes := make([]int, racers)
	bodies := make([]string, racers)
	var start, wg sync.WaitGroup
	start.Add(1)
	for i := range racers {
		wg.Go(func() {
			form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}, "client_id": {"app"}}
			r := httptest.NewRequest(http.MethodPost, "/auth/token", strings.NewReader(form.Encode()))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			w := httptest.NewRecorder()
			start.Wait()
			p.TokenHandler().ServeHTTP(w, r)
			codes[i], bodies[i] = w.Code, w.Body.String()
		})
	}
	start.Done()
	wg.Wait()
	won := 0
	for i, code := range codes {
		if code == http.StatusOK {
			won++
			continue
		}
		assert.Equal(t, http.StatusBadRequest, code, bodies[i])
		assert.Regexp(t, `"error":"invalid_(request|grant)"`, bodies[i])
	}
	assert.Equal(t, 1, won, "exactly one exchange gets new tokens: %v", codes)
}
