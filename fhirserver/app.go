package fhirserver

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/fhirserver/fhirserver/resources"
	"github.com/fhirserver/fhirserver/resources/access"
	"github.com/fhirserver/fhirserver/storage"
	"github.com/fhirserver/fhirserver/storage/audit"
)

// Authenticator turns a request's bearer token into a Caller, or an
// Unauthorized error whose challenge goes in WWW-Authenticate.
type Authenticator interface {
	Authenticate(r *http.Request) (access.Caller, error)
	Challenge(err error) string
}

// Config is what the HTTP layer needs to know.
type Config struct {
	// BaseURL is the server's public root, e.g. http://127.0.0.1:8080; the
	// FHIR base is BaseURL + "/fhir".
	BaseURL      string
	MaxBodyBytes int64
	Log          *slog.Logger
}

// Deps are the parts the app is wired from.
type Deps struct {
	Resources *resources.Service
	Auth      Authenticator
	// Audit records every FHIR interaction; required.
	Audit Auditor
	// RoleAdmin and Roles serve the admin API's role permissions.
	RoleAdmin RoleAdmin
	Roles     *Roles
	// BreakGlass runs Patient/[id]/$break-glass.
	BreakGlass BreakGlass
	// Scheduling runs availability, $find and $book.
	Scheduling Scheduling
	// Telehealth runs telehealth sessions.
	Telehealth Telehealth
	// VerifyAudit recomputes the audit chains for AuditEvent/$verify.
	VerifyAudit func(ctx context.Context) (int64, *audit.Break, error)
	// Blind is the blind index of identifiers encrypted at rest, which the
	// audit log records searches by.
	Blind       func(typ, param, system, code string) string
	BlindString func(typ, param, value string, exact bool) (string, bool)
	// Ready reports whether the database answers and is migrated.
	Ready func(ctx context.Context) error
	// Discovery is the SMART configuration document.
	Discovery func() map[string]any
	// OAuth holds the authorization server's endpoints by path.
	OAuth map[string]http.Handler
	// Capability adds the security section to the CapabilityStatement.
	Security map[string]any
}

type app struct {
	cfg  Config
	d    Deps
	auth Authenticator
	res  *resources.Service
	log  *slog.Logger
	// audit is the durable audit log every FHIR response waits for.
	audit Auditor
	roles *Roles
	caps  []byte
}

// New builds the Echo application.
func New(cfg Config, d Deps) *echo.Echo {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = 64 << 20
	}
	if d.Audit == nil {
		panic("fhirserver: an Auditor is required: every FHIR interaction is audited")
	}
	if d.Resources != nil {
		d.Resources.SetMaxResourceBytes(cfg.MaxBodyBytes) // a patch's result, as a body
	}
	a := &app{cfg: cfg, d: d, auth: d.Auth, res: d.Resources, log: cfg.Log, audit: d.Audit, roles: d.Roles}
	a.caps = a.capabilityStatement()
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = a.errorHandler
	e.Pre(trimSlash)
	e.Use(a.requestLog, a.recoverPanic, a.limitBody, cors())

	e.GET("/healthz", func(c echo.Context) error { return c.JSON(http.StatusOK, map[string]string{"status": "ok"}) })
	e.GET("/readyz", a.ready)
	e.GET("/fhir/metadata", a.metadata)
	e.GET("/.well-known/smart-configuration", a.discovery)
	e.GET("/fhir/.well-known/smart-configuration", a.discovery)
	e.POST("/video/webhook", a.videoWebhook)
	for path, h := range d.OAuth {
		e.Any(path, echo.WrapHandler(h))
	}
	// Middleware goes on each route, not on a Group: an Echo group with
	// middleware answers 404 for every unrouted method, hiding 405.
	a.adminRoutes(e)
	a.fhirRoutes(func(method, path string, h echo.HandlerFunc) {
		e.Add(method, "/fhir"+path, h, a.negotiate, a.authenticate, a.wellFormed)
	})
	return e
}

// cors lets SMART apps served from other origins call the API, the
// discovery documents and the token endpoint. Any origin may: requests
// carry bearer tokens, never cookies, so a page cannot borrow a user's
// authority. The authorization pages, which do use a cookie, are left out.
func cors() echo.MiddlewareFunc {
	return middleware.CORSWithConfig(middleware.CORSConfig{
		Skipper:       func(c echo.Context) bool { return c.Request().URL.Path == "/auth/authorize" },
		AllowOrigins:  []string{"*"},
		AllowMethods:  []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete},
		AllowHeaders:  []string{"Authorization", "Content-Type", "Accept", "Prefer", "If-Match", "If-None-Match", "If-None-Exist", "If-Modified-Since"},
		ExposeHeaders: []string{"Location", "Content-Location", "ETag", "Last-Modified", "WWW-Authenticate", "X-Request-Id"},
		MaxAge:        600,
	})
}

func (a *app) fhirBase() string { return a.cfg.BaseURL + "/fhir" }

func (a *app) ready(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
	defer cancel()
	if err := a.d.Ready(ctx); err != nil {
		a.log.Warn("not ready", "err", err)
		return c.JSON(http.StatusServiceUnavailable, map[string]string{"status": "unavailable"})
	}
	return c.JSON(http.StatusOK, map[string]string{"status": "ready"})
}

func (a *app) discovery(c echo.Context) error {
	c.Response().Header().Set("Cache-Control", "public, max-age=300")
	return c.JSON(http.StatusOK, a.d.Discovery())
}

func (a *app) metadata(c echo.Context) error {
	writeFHIR(c, http.StatusOK, a.caps)
	return nil
}

const callerKey = "fhir.caller"

func (a *app) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		caller, err := a.auth.Authenticate(c.Request())
		if err != nil {
			return err
		}
		c.Set(callerKey, caller)
		if caller.Care != nil {
			c.SetRequest(c.Request().WithContext(storage.WithCare(c.Request().Context(), *caller.Care)))
		}
		a.recordWrites(c)
		return next(c)
	}
}

func callerOf(c echo.Context) access.Caller {
	caller, _ := c.Get(callerKey).(access.Caller)
	return caller
}

func requestID(c echo.Context) string {
	id, _ := c.Get("request_id").(string)
	return id
}

// requestLog logs one line per request: the route pattern, never the URL,
// whose ids and search values may be PHI.
func (a *app) requestLog(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		var b [8]byte
		_, _ = rand.Read(b[:])
		id := hex.EncodeToString(b[:])
		c.Set("request_id", id)
		c.Response().Header().Set("X-Request-Id", id)
		start := time.Now()
		err := next(c)
		if err != nil {
			c.Error(err)
		}
		a.log.LogAttrs(c.Request().Context(), slog.LevelInfo, "request",
			slog.String("request_id", id), slog.String("method", c.Request().Method),
			slog.String("route", c.Path()), slog.Int("status", c.Response().Status),
			slog.String("client", callerOf(c).ID), slog.Duration("duration", time.Since(start)))
		return nil
	}
}
