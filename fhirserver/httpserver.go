package fhirserver

import (
	"fmt"
	"log/slog"
	"net/http"
	"runtime"
	"runtime/debug"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/fhirserver/fhirserver/outcome"
)

// Timeouts bound how long a client may hold a connection.
type Timeouts struct {
	// ReadHeader is the time to send the request line and headers.
	ReadHeader time.Duration
	// Read is the time to send the whole request, body included.
	Read time.Duration
	// Write runs from the end of the headers to the end of the answer, so
	// it bounds reading the body and the handler too: keep it above Read.
	// No route streams ($everything is paged), so no route needs more.
	Write time.Duration
	// Idle is how long a kept-alive connection may wait for a request.
	Idle time.Duration
}

// DefaultTimeouts let a client send a body at the default size limit (64
// MiB) at about half a megabyte a second, and a transaction of that size
// be processed, while a client sending nothing is cut after seconds.
var DefaultTimeouts = Timeouts{ReadHeader: 10 * time.Second, Read: 2 * time.Minute, Write: 5 * time.Minute, Idle: 2 * time.Minute}

// NewHTTPServer is the HTTP server for h: the serve command's, and the
// tests'. A zero timeout takes its default.
func NewHTTPServer(h http.Handler, t Timeouts) *http.Server {
	or := func(d, def time.Duration) time.Duration {
		if d == 0 {
			return def
		}
		return d
	}
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: or(t.ReadHeader, DefaultTimeouts.ReadHeader),
		ReadTimeout:       or(t.Read, DefaultTimeouts.Read),
		WriteTimeout:      or(t.Write, DefaultTimeouts.Write),
		IdleTimeout:       or(t.Idle, DefaultTimeouts.Idle),
	}
}

// recoverPanic turns a handler's panic into a 500, which the error handler
// answers, logs and audits like any other failure. The log line names
// where it happened (the stack) but not the panic's value, which may quote
// a record; a runtime error's message quotes none.
func (a *app) recoverPanic(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			p := recover()
			if p == nil {
				return
			}
			if p == http.ErrAbortHandler {
				panic(p)
			}
			a.log.LogAttrs(c.Request().Context(), slog.LevelError, "panic",
				slog.String("request_id", requestID(c)), slog.String("route", c.Path()),
				slog.String("panic", panicKind(p)), slog.String("stack", string(debug.Stack())))
			if c.Response().Committed {
				// Part of an answer is out: cutting the connection keeps
				// it from passing for a whole one.
				panic(http.ErrAbortHandler)
			}
			err = outcome.E(outcome.Internal, "internal server error")
		}()
		return next(c)
	}
}

func panicKind(p any) string {
	if re, ok := p.(runtime.Error); ok {
		return re.Error()
	}
	return fmt.Sprintf("%T", p)
}
