package telehealth

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v3"
	"github.com/go-jose/go-jose/v3/jwt"
)

// LiveKit is a VideoProvider on a LiveKit server (open source,
// livekit.io): rooms through its RoomService (Twirp over HTTP, JSON) and
// participant tokens it verifies itself (HS256 JWTs signed with the API
// secret, naming the room and the participant, for ttl).
type LiveKit struct {
	Label  string // the provider's name in the room map; "livekit" when empty
	URL    string // the server's HTTP base, such as http://127.0.0.1:7880
	Key    string // API key
	Secret string // API secret
	Client *http.Client
}

// Name is the provider's name in the room map.
func (l *LiveKit) Name() string {
	if l.Label == "" {
		return "livekit"
	}
	return l.Label
}

// videoGrant is LiveKit's "video" claim.
type videoGrant struct {
	Room       string `json:"room,omitempty"`
	RoomJoin   bool   `json:"roomJoin,omitempty"`
	RoomCreate bool   `json:"roomCreate,omitempty"`
	RoomList   bool   `json:"roomList,omitempty"`
}

type liveKitClaims struct {
	jwt.Claims
	Video videoGrant `json:"video"`
	Name  string     `json:"name,omitempty"`
}

// sign makes a token for identity with grant, valid for ttl.
func (l *LiveKit) sign(identity string, grant videoGrant, ttl time.Duration) (string, string, error) {
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: []byte(l.Secret)}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return "", "", err
	}
	var b [12]byte
	_, _ = rand.Read(b[:])
	jti := hex.EncodeToString(b[:])
	now := time.Now()
	c := liveKitClaims{Claims: jwt.Claims{Issuer: l.Key, Subject: identity, ID: jti,
		NotBefore: jwt.NewNumericDate(now.Add(-5 * time.Second)), Expiry: jwt.NewNumericDate(now.Add(ttl))}, Video: grant}
	token, err := jwt.Signed(signer).Claims(c).CompactSerialize()
	return token, jti, err
}

// Token lets identity join room for ttl; the audience is the room alone.
func (l *LiveKit) Token(room, identity string, ttl time.Duration) (string, string, error) {
	return l.sign(identity, videoGrant{Room: room, RoomJoin: true}, ttl)
}

// CreateRoom makes a room (kept 10 minutes when empty).
func (l *LiveKit) CreateRoom(ctx context.Context, name string) error {
	return l.call(ctx, "CreateRoom", map[string]any{"name": name, "empty_timeout": 600}, nil)
}

// EndRoom closes a room and disconnects whoever is in it.
func (l *LiveKit) EndRoom(ctx context.Context, room string) error {
	return l.call(ctx, "DeleteRoom", map[string]any{"room": room}, nil)
}

// Rooms lists the rooms open now.
func (l *LiveKit) Rooms(ctx context.Context) ([]string, error) {
	var out struct {
		Rooms []struct{ Name string } `json:"rooms"`
	}
	if err := l.call(ctx, "ListRooms", map[string]any{}, &out); err != nil {
		return nil, err
	}
	var names []string
	for _, r := range out.Rooms {
		names = append(names, r.Name)
	}
	return names, nil
}

// call is one RoomService method, authorized by a short admin token.
func (l *LiveKit) call(ctx context.Context, method string, in, out any) error {
	token, _, err := l.sign("fhirserver", videoGrant{RoomCreate: true, RoomList: true}, time.Minute)
	if err != nil {
		return err
	}
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(l.URL, "/")+"/twirp/livekit.RoomService/"+method, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	client := l.Client
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("livekit %s: %w", method, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("livekit %s: %s: %.200s", method, resp.Status, b)
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}
