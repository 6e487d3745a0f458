package fhirserver

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/fhirserver/fhirserver/outcome"
	"github.com/fhirserver/fhirserver/resources"
	"github.com/fhirserver/fhirserver/storage"
)

// errorHandler is the only place that writes an error response: every
// handler returns its error, and this maps it to a status and an
// OperationOutcome. Faults are logged with their cause, never sent.
func (a *app) errorHandler(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	oe := classify(err)
	var gone *resources.GoneError
	if errors.As(err, &gone) && gone.Version != nil {
		c.Response().Header().Set("ETag", `W/"`+itoa64(gone.Version.Version)+`"`)
	}
	if oe.Kind == outcome.Unauthorized {
		c.Response().Header().Set("WWW-Authenticate", a.auth.Challenge(err))
	}
	level := slog.LevelWarn
	if oe.Kind == outcome.Internal {
		level = slog.LevelError
	}
	a.log.LogAttrs(c.Request().Context(), level, "request failed",
		slog.String("request_id", requestID(c)), slog.String("route", c.Path()),
		slog.Int("status", oe.Kind.Status()), slog.String("op", oe.Op), slog.Any("cause", causeOf(oe)))
	if strings.HasPrefix(c.Path(), "/fhir") && c.Path() != "/fhir/metadata" && !errors.Is(err, errAuditUnavailable) {
		// Refusals and failures are audited too; an error response carries
		// no PHI, so it goes out even if its record cannot be written. A
		// refusal's record says why, as the client is told.
		if oe.Kind == outcome.Forbidden && len(oe.Issues) > 0 {
			c.Set(refusalKey, oe.Issues[0].Diagnostics)
		}
		if aerr := a.auditRecord(c, oe.Kind.Status(), keyOfPath(c)); aerr != nil {
			a.log.Error("audit failed", "request_id", requestID(c), "err", aerr)
		}
	}
	writeFHIR(c, oe.Kind.Status(), oe.OperationOutcome())
}

// refusalKey holds why a request was refused, for its audit record.
const refusalKey = "fhir.refusal"

// causeOf is logged only for internal errors: a client error's message may
// quote what the client sent, which can be PHI.
func causeOf(oe *outcome.Error) any {
	if oe.Kind == outcome.Internal && oe.Err != nil {
		return oe.Err.Error()
	}
	return nil
}

func classify(err error) *outcome.Error {
	var he *echo.HTTPError
	switch {
	case errors.As(err, &he):
		return fromEcho(he)
	case errors.Is(err, storage.ErrBusy):
		return outcome.E(outcome.Transient, "too many concurrent changes to the same resources; retry").Wrap("", err)
	case storage.TooCostly(err):
		// The statement timeout: the database may be busy or the request
		// costly; either way, not a fault of the server's.
		return outcome.E(outcome.Transient, "the request took longer than this server allows; narrow it or retry later").
			WithCode("too-costly").Wrap("", err)
	case errors.Is(err, context.DeadlineExceeded):
		return outcome.E(outcome.Transient, "the request timed out").Wrap("", err)
	}
	return outcome.From(err)
}

func fromEcho(he *echo.HTTPError) *outcome.Error {
	switch he.Code {
	case http.StatusNotFound:
		return outcome.E(outcome.NotFound, "no such endpoint")
	case http.StatusMethodNotAllowed:
		return outcome.E(outcome.NotSupported, "this interaction is not supported here")
	case http.StatusRequestEntityTooLarge:
		return outcome.E(outcome.TooLarge, "the request body is larger than this server accepts")
	case http.StatusUnsupportedMediaType:
		return outcome.E(outcome.MediaType, "unsupported content type")
	case http.StatusBadRequest:
		return outcome.E(outcome.Invalid, "bad request")
	}
	return outcome.E(outcome.Internal, "internal server error").Wrap("echo", he)
}
