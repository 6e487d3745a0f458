package smart

import (
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
)

// The source address failures count against is the TCP peer; a proxy's
// X-Forwarded-For counts only when the operator trusts that proxy, so an
// attacker cannot name a fresh address on each attempt.
func TestSourceAddress(t *testing.T) {
	trusting := Limits{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}}
	for _, tc := range []struct {
		name, peer, forwarded string
		limits                Limits
		want                  string
	}{
		{"the peer", "192.0.2.7:5000", "", Limits{}, "192.0.2.7"},
		{"an untrusted peer's header is ignored", "192.0.2.7:5000", "203.0.113.1", Limits{}, "192.0.2.7"},
		{"untrusted, even when proxies are trusted", "192.0.2.7:5000", "203.0.113.1", trusting, "192.0.2.7"},
		{"a trusted proxy's client", "10.1.2.3:5000", "203.0.113.1", trusting, "203.0.113.1"},
		{"the nearest untrusted hop, not what the client wrote", "10.1.2.3:5000", "198.51.100.9, 203.0.113.1, 10.9.9.9", trusting, "203.0.113.1"},
		{"a malformed hop stops the walk", "10.1.2.3:5000", "203.0.113.1, junk", trusting, "10.1.2.3"},
		{"IPv6 by its /64", "[2001:db8:1:2:3:4:5:6]:5000", "", Limits{}, "2001:db8:1:2::/64"},
		{"a trusted IPv6 proxy", "[::1]:5000", "2001:db8::1", trusting, "2001:db8::/64"},
		{"IPv4 mapped in IPv6", "[::ffff:192.0.2.7]:5000", "", Limits{}, "192.0.2.7"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/auth/token", nil)
			r.RemoteAddr = tc.peer
			if tc.forwarded != "" {
				r.Header.Set("X-Forwarded-For", tc.forwarded)
			}
			assert.Equal(t, tc.want, tc.limits.source(r))
		})
	}
}
