package smart

import (
	"encoding/base64"
	"encoding/json"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// A sign-in lasts while the user is active: it ends after idleTimeout
// without a page, after signinLifespan however active, and at once when
// the cookie was not signed by this server.
func TestSigninCookie(t *testing.T) {
	p := &Provider{cookieKey: []byte("a key for the tests")}
	now := time.Now()
	cookie := func(s signin, key []byte) string {
		raw, _ := json.Marshal(s)
		body := base64.RawURLEncoding.EncodeToString(raw)
		signer := &Provider{cookieKey: key}
		return body + "." + base64.RawURLEncoding.EncodeToString(signer.mac("cookie:"+body))
	}
	tests := []struct {
		name   string
		value  string
		signed bool
	}{
		{"active", cookie(signin{SID: "s", User: "doc", Auth: now.Add(-time.Hour).Unix(), Last: now.Add(-time.Minute).Unix()}, p.cookieKey), true},
		{"idle", cookie(signin{SID: "s", User: "doc", Auth: now.Add(-time.Hour).Unix(), Last: now.Add(-16 * time.Minute).Unix()}, p.cookieKey), false},
		{"too old", cookie(signin{SID: "s", User: "doc", Auth: now.Add(-9 * time.Hour).Unix(), Last: now.Unix()}, p.cookieKey), false},
		{"another key", cookie(signin{SID: "s", User: "doc", Auth: now.Unix(), Last: now.Unix()}, []byte("another key")), false},
		{"garbage", "not.a-cookie", false},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("GET", "/auth/authorize", nil)
		r.Header.Set("Cookie", signinCookie+"="+tt.value)
		s := p.readSignin(r)
		if tt.signed {
			assert.Equal(t, "doc", s.User, tt.name)
		} else {
			assert.Empty(t, s.User, tt.name)
			assert.NotEqual(t, "s", s.SID, "%s: a fresh anonymous sign-in", tt.name)
		}
	}
	// Writing renews the activity time and sets the flags.
	w := httptest.NewRecorder()
	p.writeSignin(w, signin{SID: "s", User: "doc", Auth: now.Unix(), Last: now.Add(-10 * time.Minute).Unix()})
	c := w.Result().Cookies()[0]
	assert.True(t, c.HttpOnly && c.Secure)
	got, ok := p.verifySignin(c.Value)
	assert.True(t, ok)
	assert.InDelta(t, now.Unix(), got.Last, 2)
}
