package telehealth

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// freePort is a TCP port nobody listens on now.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startLiveKit runs a real LiveKit server (LIVEKIT_SERVER, built by
// scripts/ensure-livekit.sh) on free local ports for the test.
func startLiveKit(t *testing.T) *LiveKit {
	t.Helper()
	bin := os.Getenv("LIVEKIT_SERVER")
	if bin == "" {
		t.Skip("LIVEKIT_SERVER is not set: make test builds livekit-server (scripts/ensure-livekit.sh)")
	}
	port, tcp := freePort(t), freePort(t)
	udp := 40000 + port%20000
	secret := "a-test-secret-of-at-least-thirty-two-characters"
	config := fmt.Sprintf("port: %d\nbind_addresses: [127.0.0.1]\nrtc:\n  tcp_port: %d\n  port_range_start: %d\n  port_range_end: %d\n  use_external_ip: false\n  node_ip: 127.0.0.1\nkeys:\n  testkey: %s\nlogging:\n  level: warn\n",
		port, tcp, udp, udp+20, secret)
	cmd := exec.Command(bin, "--config-body", config)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _, _ = cmd.Process.Wait() })
	lk := &LiveKit{URL: fmt.Sprintf("http://127.0.0.1:%d", port), Key: "testkey", Secret: secret}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(lk.URL)
		if err == nil {
			resp.Body.Close()
			return lk
		}
		require.True(t, time.Now().Before(deadline), "livekit-server did not start: %v", err)
		time.Sleep(100 * time.Millisecond)
	}
}

// validate asks the LiveKit server whether it accepts a participant token.
func validate(t *testing.T, lk *LiveKit, token string) int {
	t.Helper()
	resp, err := http.Get(lk.URL + "/rtc/validate?access_token=" + url.QueryEscape(token))
	require.NoError(t, err)
	resp.Body.Close()
	return resp.StatusCode
}

// The adapter against a real LiveKit server: rooms are made and ended
// through its API, and the server accepts the tokens issued for a room
// while they last and refuses forged or expired ones.
func TestLiveKitAdapter(t *testing.T) {
	lk := startLiveKit(t)
	ctx := context.Background()
	require.NoError(t, lk.CreateRoom(ctx, "session-e1"))
	rooms, err := lk.Rooms(ctx)
	require.NoError(t, err)
	assert.Contains(t, rooms, "session-e1")

	token, err := lk.Token("session-e1", "patient-p1#j1", "j1", time.Minute)
	require.NoError(t, err)
	assert.Equal(t, 200, validate(t, lk, token), "the server accepts the token")

	forged := &LiveKit{URL: lk.URL, Key: lk.Key, Secret: "another-secret-of-at-least-thirty-two-chars"}
	bad, err := forged.Token("session-e1", "patient-p1#j2", "j2", time.Minute)
	require.NoError(t, err)
	assert.Equal(t, 401, validate(t, lk, bad), "a token not signed with the server's secret")
	expired, err := lk.Token("session-e1", "patient-p1#j3", "j3", -time.Minute)
	require.NoError(t, err)
	assert.Equal(t, 401, validate(t, lk, expired), "an expired token")

	require.NoError(t, lk.RemoveParticipant(ctx, "session-e1", "nobody#x"), "a participant already gone")
	require.NoError(t, lk.EndRoom(ctx, "session-e1"))
	rooms, err = lk.Rooms(ctx)
	require.NoError(t, err)
	assert.NotContains(t, rooms, "session-e1")
	assert.Error(t, (&LiveKit{URL: lk.URL, Key: "nobody", Secret: lk.Secret}).CreateRoom(ctx, "x"), "an unknown API key")
}
