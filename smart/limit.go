package smart

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ory/fosite"

	"github.com/fhirserver/fhirserver/storage/oauth"
)

// Limits bound failed authentications (client secrets and assertions at
// the token, introspection and revocation endpoints; passwords on the
// sign-in page): past a limit within Window, the client id, username or
// source address is locked for Window, and every attempt on it, right or
// wrong, is answered 429. The counts live in the database, so every
// server instance applies the same. A limit of 0 turns that count off.
type Limits struct {
	ClientFailures  int // per client id
	UserFailures    int // per username, known or not
	AddressFailures int // per source address (an IPv6 address by its /64)
	Window          time.Duration
	// TrustedProxies are the peers whose X-Forwarded-For names the source
	// address; anyone else's is ignored.
	TrustedProxies []netip.Prefix
}

// DefaultLimits are the limits when Config leaves them out.
func DefaultLimits() Limits {
	return Limits{ClientFailures: 10, UserFailures: 5, AddressFailures: 50, Window: 15 * time.Minute}
}

// limitStore keeps the counts of failed authentications.
type limitStore interface {
	ClientForAuth(ctx context.Context, id string, lockKeys []string) (oauth.Client, time.Time, error)
	RecordAuthFailure(ctx context.Context, f oauth.AuthFailure) ([]string, error)
	PruneAuthLimits(ctx context.Context) error
}

// attempt is one authentication: the keys its failure counts against.
type attempt struct {
	address string
	keys    []string
	limits  []int
}

// attempt names the keys of an authentication by a client id or username
// (kind "client" or "user") from the request's source address.
func (p *Provider) attempt(r *http.Request, kind, name string) attempt {
	a := attempt{address: p.limits.source(r)}
	a.add("address:"+a.address, p.limits.AddressFailures)
	limit := p.limits.ClientFailures
	if kind == "user" {
		limit = p.limits.UserFailures
	}
	if name != "" {
		a.add(kind+":"+name, limit)
	}
	return a
}

func (a *attempt) add(key string, limit int) {
	if limit > 0 {
		a.keys, a.limits = append(a.keys, key), append(a.limits, limit)
	}
}

// fail counts a failed authentication; a lockout it causes is in the
// admin audit. The failure is answered whatever happens here.
func (p *Provider) fail(ctx context.Context, a attempt) {
	if len(a.keys) == 0 {
		return
	}
	locked, err := p.db.RecordAuthFailure(ctx, oauth.AuthFailure{Keys: a.keys, Limits: a.limits, Window: p.limits.Window, Address: a.address})
	if err != nil {
		p.log.Error("auth failure not counted", "err", err)
		return
	}
	for _, k := range locked {
		p.log.Warn("authentication locked out", "key", k, "for", p.limits.Window.String())
	}
	p.prune(ctx)
}

// prune deletes stale counts now and then, so that names an attacker
// makes up do not pile up.
func (p *Provider) prune(ctx context.Context) {
	p.pruneMu.Lock()
	due := time.Since(p.pruned) > p.limits.Window
	if due {
		p.pruned = time.Now()
	}
	p.pruneMu.Unlock()
	if due {
		if err := p.db.PruneAuthLimits(ctx); err != nil {
			p.log.Warn("auth limits not pruned", "err", err)
		}
	}
}

type pruneState struct {
	pruneMu sync.Mutex
	pruned  time.Time
}

// lockedOut refuses an authentication while a lockout is in force.
type lockedOut struct{ until time.Time }

func (e *lockedOut) Error() string {
	return fmt.Sprintf("too many failed authentications: locked for %d more seconds", e.retryAfter())
}

func (e *lockedOut) retryAfter() int {
	return max(1, int(math.Ceil(time.Until(e.until).Seconds())))
}

// rfc is the lockout as the OAuth error the endpoints answer: RFC 6749
// has no code for it, so the authorization endpoint's
// temporarily_unavailable, with 429 and Retry-After (RFC 6585).
func (e *lockedOut) rfc() *fosite.RFC6749Error {
	return &fosite.RFC6749Error{
		ErrorField:       "temporarily_unavailable",
		DescriptionField: "Too many failed authentications.",
		HintField:        fmt.Sprintf("Try again in %d seconds.", e.retryAfter()),
		CodeField:        http.StatusTooManyRequests,
	}
}

// writeLockout answers a locked-out request at a JSON endpoint.
func (p *Provider) writeLockout(ctx context.Context, w http.ResponseWriter, e *lockedOut) {
	w.Header().Set("Retry-After", strconv.Itoa(e.retryAfter()))
	p.oauth.WriteAccessError(ctx, w, nil, e.rfc())
}

// source is the request's source address: the TCP peer, or, when the peer
// is a trusted proxy, the nearest untrusted address its X-Forwarded-For
// names. An IPv6 address counts by its /64, which one host usually holds.
func (l Limits) source(r *http.Request) string {
	ip := peerIP(r.RemoteAddr)
	if l.trusted(ip) {
		hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
		for i := len(hops) - 1; i >= 0; i-- {
			hop, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
			if err != nil {
				break // a hop nobody trusted wrote: stop at the last known one
			}
			ip = hop.Unmap()
			if !l.trusted(ip) {
				break
			}
		}
	}
	if ip.Is6() {
		return netip.PrefixFrom(ip, 64).Masked().String()
	}
	return ip.String()
}

func peerIP(remote string) netip.Addr {
	if ap, err := netip.ParseAddrPort(remote); err == nil {
		return ap.Addr().Unmap()
	}
	ip, _ := netip.ParseAddr(remote)
	return ip.Unmap()
}

func (l Limits) trusted(ip netip.Addr) bool {
	for _, p := range l.TrustedProxies {
		if ip.IsValid() && p.Contains(ip) {
			return true
		}
	}
	return false
}
