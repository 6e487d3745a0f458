package telehealth

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
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
	RoomAdmin  bool   `json:"roomAdmin,omitempty"`
	RoomCreate bool   `json:"roomCreate,omitempty"`
	RoomList   bool   `json:"roomList,omitempty"`
}

type liveKitClaims struct {
	jwt.Claims
	Video videoGrant `json:"video"`
	Name  string     `json:"name,omitempty"`
}

// sign makes a token for identity with grant, valid for ttl.
func (l *LiveKit) sign(identity, jti string, grant videoGrant, ttl time.Duration) (string, error) {
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: []byte(l.Secret)}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return "", err
	}
	now := time.Now()
	c := liveKitClaims{Claims: jwt.Claims{Issuer: l.Key, Subject: identity, ID: jti,
		NotBefore: jwt.NewNumericDate(now.Add(-5 * time.Second)), Expiry: jwt.NewNumericDate(now.Add(ttl))}, Video: grant}
	return jwt.Signed(signer).Claims(c).CompactSerialize()
}

// Token lets identity join room for ttl; the audience is the room alone.
func (l *LiveKit) Token(room, identity, jti string, ttl time.Duration) (string, error) {
	return l.sign(identity, jti, videoGrant{Room: room, RoomJoin: true}, ttl)
}

// RemoveParticipant takes identity out of room; one already gone is no
// error.
func (l *LiveKit) RemoveParticipant(ctx context.Context, room, identity string) error {
	err := l.call(ctx, "RemoveParticipant", map[string]any{"room": room, "identity": identity}, nil, videoGrant{Room: room, RoomAdmin: true})
	if err != nil && strings.Contains(err.Error(), "404") {
		return nil
	}
	return err
}

// VerifyWebhook checks a LiveKit webhook: the Authorization header is a
// JWT signed with the API secret, issued by the API key, whose sha256
// claim is the body's digest.
func (l *LiveKit) VerifyWebhook(authorization string, body []byte) (WebhookEvent, error) {
	tok, err := jwt.ParseSigned(strings.TrimPrefix(authorization, "Bearer "))
	if err != nil {
		return WebhookEvent{}, err
	}
	var claims struct {
		jwt.Claims
		SHA256 string `json:"sha256"`
	}
	if err := tok.Claims([]byte(l.Secret), &claims); err != nil {
		return WebhookEvent{}, err
	}
	if err := claims.Validate(jwt.Expected{Issuer: l.Key, Time: time.Now()}); err != nil {
		return WebhookEvent{}, err
	}
	sum := sha256.Sum256(body)
	if claims.SHA256 != base64.StdEncoding.EncodeToString(sum[:]) {
		return WebhookEvent{}, errors.New("livekit webhook: the body is not the one signed")
	}
	var ev struct {
		Event       string                    `json:"event"`
		Room        struct{ Name string }     `json:"room"`
		Participant struct{ Identity string } `json:"participant"`
	}
	if err := json.Unmarshal(body, &ev); err != nil {
		return WebhookEvent{}, err
	}
	return WebhookEvent{Event: ev.Event, Room: ev.Room.Name, Identity: ev.Participant.Identity}, nil
}

// CreateRoom makes a room (kept 10 minutes when empty).
func (l *LiveKit) CreateRoom(ctx context.Context, name string) error {
	return l.call(ctx, "CreateRoom", map[string]any{"name": name, "empty_timeout": 600}, nil, adminGrant)
}

// EndRoom closes a room and disconnects whoever is in it.
func (l *LiveKit) EndRoom(ctx context.Context, room string) error {
	return l.call(ctx, "DeleteRoom", map[string]any{"room": room}, nil, adminGrant)
}

// Rooms lists the rooms open now.
func (l *LiveKit) Rooms(ctx context.Context) ([]string, error) {
	var out struct {
		Rooms []struct{ Name string } `json:"rooms"`
	}
	if err := l.call(ctx, "ListRooms", map[string]any{}, &out, adminGrant); err != nil {
		return nil, err
	}
	var names []string
	for _, r := range out.Rooms {
		names = append(names, r.Name)
	}
	return names, nil
}

// adminGrant is what the server's own calls may do to rooms.
var adminGrant = videoGrant{RoomCreate: true, RoomList: true}

// call is one RoomService method, authorized by a short token with grant.
func (l *LiveKit) call(ctx context.Context, method string, in, out any, grant videoGrant) error {
	token, err := l.sign("fhirserver", newJTI(), grant, time.Minute)
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
