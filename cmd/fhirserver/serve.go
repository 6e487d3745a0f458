package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/fhirserver/fhirserver/fhirserver"
	"github.com/fhirserver/fhirserver/operations/breakglass"
	"github.com/fhirserver/fhirserver/operations/scheduling"
	"github.com/fhirserver/fhirserver/operations/telehealth"
	"github.com/fhirserver/fhirserver/resources"
	"github.com/fhirserver/fhirserver/search"
	"github.com/fhirserver/fhirserver/smart"
	"github.com/fhirserver/fhirserver/storage/audit"
	"github.com/fhirserver/fhirserver/storage/oauth"
	schedstore "github.com/fhirserver/fhirserver/storage/scheduling"
)

type serveFlags struct {
	db            dbFlags
	validation    validationFlags
	addr          string
	baseURL       string
	maxBody       int64
	timeouts      fhirserver.Timeouts
	tokenLifespan time.Duration
	breakGlassFor time.Duration
	slotHorizon   int
	noshowEvery   time.Duration
	noshowReview  int
	weights       string
	livekitURLs   string
	livekitKey    string
	livekitSecret string
	limits        smart.Limits
	proxies       listFlag
}

func serve(ctx context.Context, args []string, log *slog.Logger) error {
	f, err := parseServe(args)
	if err != nil {
		return err
	}
	tuneGC()
	if _, err := search.R4(); err != nil {
		return err
	}
	db, err := openDatabase(ctx, f.db, log)
	if err != nil {
		return err
	}
	defer db.close()
	provider, err := smart.New(ctx, smart.Config{Issuer: f.baseURL, FHIRBase: f.baseURL + "/fhir", TokenLifespan: f.tokenLifespan, Limits: &f.limits}, oauth.New(db.store), log)
	if err != nil {
		return err
	}
	auditLog, auditKey, err := openAudit(ctx, f.db, db)
	if err != nil {
		return err
	}
	defer auditLog.Close()
	roles := fhirserver.NewRoles(ctx, db.store, log)
	res := resources.New(db.store, log)
	validation, _ := f.validation.options() // checked by parseServe
	res.SetValidation(validation)
	schedState := schedstore.New(db.store)
	sched := scheduling.New(res, schedState, f.slotHorizon)
	sched.Waitlist.Weights, _ = scheduling.ParseWeights(f.weights) // checked by parseServe
	tele := &telehealth.Service{Res: res, Store: schedState, Providers: f.videoProviders(), Notifier: telehealth.LogNotifier{Log: log}}
	noshows := &scheduling.NoShows{Res: res, Policies: schedState, ReviewAfter: f.noshowReview, Log: log, OnNoShow: tele.SessionNoShow}
	go noshows.Every(ctx, f.noshowEvery)
	provider.SetDirectory(fhirserver.Directory(res))
	app := fhirserver.New(fhirserver.Config{BaseURL: f.baseURL, MaxBodyBytes: f.maxBody, Log: log}, fhirserver.Deps{
		Resources:   res,
		Auth:        fhirserver.SMART(provider, roles, db.store),
		RoleAdmin:   db.store,
		Roles:       roles,
		Blind:       db.store.BlindToken,
		BlindString: db.store.BlindString,
		VerifyAudit: func(ctx context.Context) (int64, *audit.Break, error) {
			return audit.New(db.store).Verify(ctx, auditKey)
		},
		BreakGlass: breakglass.New(res, f.breakGlassFor, 72*time.Hour),
		Scheduling: sched,
		Telehealth: tele,
		Audit:      auditLog,
		Ready:      db.store.Ready,
		Discovery:  provider.Discovery,
		OAuth:      provider.Handlers(),
		Security:   provider.Security(),
	})
	return listen(ctx, f.addr, fhirserver.NewHTTPServer(app, f.timeouts), log)
}

// tuneGC trades memory for CPU unless the operator set GOGC: decoding
// Bundles allocates heavily while the live heap stays small, so the
// default of 100 spent an eighth of ingest CPU collecting. A soft memory
// limit (GOMEMLIMIT to change it) keeps the larger target from running
// away: the live heap is 20-30 MB idle and 60-110 MB under four
// concurrent transaction Bundles, so at 2 GiB the heap grew to 450 MB
// and the resident set stayed there; at defaultMemoryLimit collection
// stays about 2 % of the CPU and the resident set under 300 MB (issue
// 18, goal 6; docs/benchmarks.md).
func tuneGC() {
	if os.Getenv("GOGC") != "" {
		return
	}
	debug.SetGCPercent(400)
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(defaultMemoryLimit)
	}
}

// defaultMemoryLimit is the soft limit of the Go heap and runtime; the
// resident set adds the binary and what the runtime has not yet returned.
const defaultMemoryLimit = 224 << 20

func parseServe(args []string) (serveFlags, error) {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	var f serveFlags
	f.db.register(fs)
	f.validation.register(fs, "reject")
	fs.StringVar(&f.addr, "addr", envOr("FHIR_ADDR", "127.0.0.1:8080"), "address to listen on")
	fs.StringVar(&f.baseURL, "base-url", envOr("FHIR_BASE_URL", ""), "public root URL of the server (default http://ADDR)")
	fs.Int64Var(&f.maxBody, "max-body-bytes", 64<<20, "largest request body accepted; larger ones get 413")
	def := fhirserver.DefaultTimeouts
	fs.DurationVar(&f.timeouts.ReadHeader, "http-read-header-timeout", def.ReadHeader, "time a client has to send a request's headers")
	fs.DurationVar(&f.timeouts.Read, "http-read-timeout", def.Read, "time a client has to send a whole request, body included")
	fs.DurationVar(&f.timeouts.Write, "http-write-timeout", def.Write, "time from a request's headers to the end of its answer (keep it above --http-read-timeout)")
	fs.DurationVar(&f.timeouts.Idle, "http-idle-timeout", def.Idle, "how long a kept-alive connection may wait for its next request")
	fs.DurationVar(&f.tokenLifespan, "token-lifespan", 15*time.Minute, "lifetime of access tokens")
	fs.DurationVar(&f.db.budget.StatementTimeout, "statement-timeout", 5*time.Second, "longest a database statement of a request may run (0: no limit); longer ones answer 503 too-costly")
	fs.DurationVar(&f.db.budget.WriteTimeout, "write-timeout", time.Minute, "longest a statement of a write transaction may run (0: ten times --statement-timeout, at least a minute)")
	fs.DurationVar(&f.breakGlassFor, "break-glass-for", time.Hour, "how long a break-glass access lasts")
	fs.IntVar(&f.slotHorizon, "slot-horizon-days", 30, "how many days of Slots are kept ahead of availability")
	fs.DurationVar(&f.noshowEvery, "noshow-every", time.Minute, "how often the no-show job runs")
	fs.IntVar(&f.noshowReview, "noshow-review-after", 3, "the number of no-shows after which a care coordinator reviews the patient")
	fs.StringVar(&f.livekitURLs, "livekit-url", os.Getenv("FHIR_LIVEKIT_URL"), "LiveKit servers for telehealth video, comma-separated in order of preference (env FHIR_LIVEKIT_URL)")
	fs.StringVar(&f.livekitKey, "livekit-key", os.Getenv("FHIR_LIVEKIT_KEY"), "the LiveKit API key (env FHIR_LIVEKIT_KEY)")
	f.livekitSecret = os.Getenv("FHIR_LIVEKIT_SECRET") // a secret: from the environment only, never a flag
	fs.StringVar(&f.weights, "waitlist-weights", "urgency=10,wait-per-day=1,distance-per-km=0.1", "the waitlist's priority score: urgency × urgency + wait-per-day × days waited − distance-per-km × km")
	f.registerLimits(fs)
	if err := fs.Parse(args); err != nil {
		return f, usageError(err.Error())
	}
	if err := f.parseProxies(); err != nil {
		return f, err
	}
	if _, err := f.validation.options(); err != nil {
		return f, err
	}
	if _, err := scheduling.ParseWeights(f.weights); err != nil {
		return f, usageError(err.Error())
	}
	if f.baseURL == "" {
		f.baseURL = "http://" + f.addr
	}
	f.baseURL = strings.TrimRight(f.baseURL, "/")
	return f, nil
}

// registerLimits adds the flags of the limits on failed authentications.
func (f *serveFlags) registerLimits(fs *flag.FlagSet) {
	d := smart.DefaultLimits()
	fs.IntVar(&f.limits.ClientFailures, "auth-client-failures", d.ClientFailures, "failed client authentications per client id within --auth-failure-window that lock it for the window (0: no limit)")
	fs.IntVar(&f.limits.UserFailures, "auth-user-failures", d.UserFailures, "failed sign-ins per username within --auth-failure-window that lock it for the window (0: no limit)")
	fs.IntVar(&f.limits.AddressFailures, "auth-address-failures", d.AddressFailures, "failed authentications per source address within --auth-failure-window that lock it for the window (0: no limit)")
	fs.DurationVar(&f.limits.Window, "auth-failure-window", d.Window, "the window failed authentications are counted in, and how long a lockout lasts")
	fs.Var(&f.proxies, "trusted-proxy", "a proxy (address or CIDR) whose X-Forwarded-For names the source address (repeatable); by default the TCP peer is the source")
}

func (f *serveFlags) parseProxies() error {
	for _, v := range f.proxies {
		p, err := netip.ParsePrefix(v)
		if err != nil {
			a, aerr := netip.ParseAddr(v)
			if aerr != nil {
				return usageError(fmt.Sprintf("--trusted-proxy %q is not an address or CIDR", v))
			}
			p = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		}
		f.limits.TrustedProxies = append(f.limits.TrustedProxies, p.Masked())
	}
	if f.limits.Window <= 0 {
		return usageError("--auth-failure-window must be positive")
	}
	return nil
}

// videoProviders are the LiveKit servers configured, in order.
func (f serveFlags) videoProviders() []telehealth.VideoProvider {
	var out []telehealth.VideoProvider
	for i, u := range strings.Split(f.livekitURLs, ",") {
		if u = strings.TrimSpace(u); u != "" {
			out = append(out, &telehealth.LiveKit{Label: fmt.Sprintf("livekit-%d", i+1), URL: u, Key: f.livekitKey, Secret: f.livekitSecret})
		}
	}
	return out
}

// listen serves until ctx ends, then stops taking connections and lets
// in-flight requests finish.
func listen(ctx context.Context, addr string, srv *http.Server, log *slog.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	log.Info("serving", "addr", ln.Addr().String())
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down: finishing in-flight requests")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return err
	}
	if err := <-done; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
