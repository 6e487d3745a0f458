package fhirserver

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"time"

	"github.com/coder/websocket"
	"github.com/labstack/echo/v4"

	"github.com/fhirserver/fhirserver/operations/telehealth"
	"github.com/fhirserver/fhirserver/outcome"
	"github.com/fhirserver/fhirserver/resources"
	"github.com/fhirserver/fhirserver/storage"
)

// Telehealth runs telehealth sessions (operations/telehealth).
type Telehealth = *telehealth.Service

func (a *app) telehealthRoutes(add func(method, path string, h echo.HandlerFunc)) {
	add(http.MethodPost, "/Encounter/$telehealth", a.telehealthCreate)
	for op, state := range map[string]string{"join": "WAITING_ROOM", "start": "ACTIVE", "complete": "COMPLETED", "abandon": "ABANDONED", "no-show": "NO_SHOW"} {
		add(http.MethodPost, "/Encounter/:id/$"+op, a.telehealthMove(state))
	}
	add(http.MethodGet, "/Encounter/:id/$waiting-room", a.waitingRoom)
	add(http.MethodPost, "/Encounter/:id/$consent", a.telehealthConsent)
	add(http.MethodPost, "/Encounter/:id/$video-token", a.videoToken)
	add(http.MethodPost, "/Encounter/:id/$video-failover", a.videoFailover)
	add(http.MethodPost, "/Encounter/:id/$quality", a.quality)
}

func (a *app) telehealth() (*telehealth.Service, error) {
	if a.d.Telehealth == nil {
		return nil, outcome.E(outcome.NotSupported, "telehealth is not enabled")
	}
	return a.d.Telehealth, nil
}

func encounterKeys(c echo.Context) []storage.Key {
	return []storage.Key{{Type: "Encounter", ID: c.Param("id")}}
}

func (a *app) telehealthCreate(c echo.Context) error {
	return a.withBody(c, true, func(b []byte) (resources.Result, error) {
		t, err := a.telehealth()
		if err != nil {
			return resources.Result{}, err
		}
		return t.Create(c.Request().Context(), callerOf(c), b)
	})
}

func (a *app) telehealthMove(state string) echo.HandlerFunc {
	return func(c echo.Context) error {
		t, err := a.telehealth()
		if err != nil {
			return err
		}
		r, err := t.Move(c.Request().Context(), callerOf(c), c.Param("id"), state)
		if err != nil {
			return err
		}
		return a.respond(c, r, a.options(c), true)
	}
}

// waitingRoom is GET Encounter/[id]/$waiting-room: the session's place in
// the waiting room and the estimated wait, as JSON; over a WebSocket
// (authenticated like any request, by its bearer token) a new message
// every time the waiting room changes. Who may watch is the session's
// (telehealth.Service.Watcher). The WebSocket lives no longer than its
// token: it closes when the token expires, and its token is checked again
// before each message, so that a revoked one hears nothing more.
func (a *app) waitingRoom(c echo.Context) error {
	t, err := a.telehealth()
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	caller := callerOf(c)
	practitioner, err := t.Watcher(ctx, caller, c.Param("id"))
	if err != nil {
		return err
	}
	if c.Request().Header.Get("Upgrade") == "" {
		p, err := t.Position(ctx, c.Param("id"), practitioner)
		if err != nil {
			return err
		}
		b, _ := json.Marshal(p)
		return a.respond(c, resources.Result{Status: http.StatusOK, Body: b, Keys: encounterKeys(c)}, a.options(c), false)
	}
	// The opening is audited like a read; what follows are positions.
	if err := a.auditRecord(c, http.StatusSwitchingProtocols, encounterKeys(c)); err != nil {
		return errAuditUnavailable
	}
	conn, err := websocket.Accept(c.Response(), c.Request(), nil)
	if err != nil {
		return nil // Accept has answered
	}
	defer conn.CloseNow()
	ctx = conn.CloseRead(context.WithoutCancel(ctx))
	var expired <-chan time.Time
	if !caller.Expires.IsZero() {
		timer := time.NewTimer(time.Until(caller.Expires))
		defer timer.Stop()
		expired = timer.C
	}
	// The request as it was authenticated, kept to check its token again;
	// its own context ended with the upgrade.
	again := c.Request().WithContext(ctx)
	positions, stop := t.Subscribe(ctx, c.Param("id"), practitioner)
	defer stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-expired:
			conn.Close(websocket.StatusPolicyViolation, "the access token has expired")
			return nil
		case p := <-positions:
			if _, err := a.auth.Authenticate(again); err != nil {
				conn.Close(websocket.StatusPolicyViolation, "the access token is no longer valid")
				return nil
			}
			b, _ := json.Marshal(p)
			wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			err := conn.Write(wctx, websocket.MessageText, b)
			cancel()
			if err != nil {
				return nil
			}
			if p.State != "WAITING_ROOM" && p.State != "SCHEDULED" {
				conn.Close(websocket.StatusNormalClosure, "the session left the waiting room")
				return nil
			}
		}
	}
}

func (a *app) telehealthConsent(c echo.Context) error {
	return a.withBody(c, true, func(b []byte) (resources.Result, error) {
		t, err := a.telehealth()
		if err != nil {
			return resources.Result{}, err
		}
		return t.Consent(c.Request().Context(), callerOf(c), c.Param("id"), b, c.RealIP())
	})
}

func (a *app) videoToken(c echo.Context) error {
	return a.videoOp(c, func(t *telehealth.Service) ([]byte, error) {
		return t.VideoToken(c.Request().Context(), callerOf(c), c.Param("id"))
	})
}

func (a *app) videoFailover(c echo.Context) error {
	return a.videoOp(c, func(t *telehealth.Service) ([]byte, error) {
		return t.ProviderFailed(c.Request().Context(), callerOf(c), c.Param("id"))
	})
}

func (a *app) videoOp(c echo.Context, run func(t *telehealth.Service) ([]byte, error)) error {
	t, err := a.telehealth()
	if err != nil {
		return err
	}
	out, err := run(t)
	if err != nil {
		return err
	}
	return a.respond(c, resources.Result{Status: http.StatusOK, Body: out, Keys: encounterKeys(c)}, a.options(c), false)
}

func (a *app) quality(c echo.Context) error {
	return a.withBody(c, false, func(b []byte) (resources.Result, error) {
		t, err := a.telehealth()
		if err != nil {
			return resources.Result{}, err
		}
		err = t.Quality(c.Request().Context(), callerOf(c), c.Param("id"), b)
		return resources.Result{Status: http.StatusAccepted, Keys: encounterKeys(c)}, err
	})
}

// videoWebhook is POST /video/webhook: the video server's signed reports
// (LiveKit's webhooks). It carries no bearer token: the provider's
// signature is the authentication.
func (a *app) videoWebhook(c echo.Context) error {
	t, err := a.telehealth()
	if err != nil {
		return err
	}
	b, err := io.ReadAll(io.LimitReader(c.Request().Body, 1<<20))
	if err != nil {
		return err
	}
	if err := t.VideoWebhook(c.Request().Context(), c.Request().Header.Get("Authorization"), b); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}
