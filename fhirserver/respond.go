package fhirserver

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/fhirserver/fhirserver/outcome"
	"github.com/fhirserver/fhirserver/resources"
)

const fhirJSON = "application/fhir+json; charset=utf-8"

func writeFHIR(c echo.Context, status int, body []byte) {
	if body == nil {
		c.Response().WriteHeader(status)
		return
	}
	// A known length lets net/http send headers and body in one write;
	// without it, a body over 2 KiB goes out chunked.
	c.Response().Header().Set(echo.HeaderContentLength, strconv.Itoa(len(body)))
	_ = c.Blob(status, fhirJSON, body)
}

func itoa64(n int64) string { return strconv.FormatInt(n, 10) }

// respond writes an interaction's result with its headers, honouring
// Prefer: return for writes.
func (a *app) respond(c echo.Context, r resources.Result, o resources.Options, write bool) error {
	h := c.Response().Header()
	if v := r.Version; v != nil {
		h.Set("ETag", `W/"`+itoa64(v.Version)+`"`)
		h.Set("Last-Modified", v.LastUpdated.UTC().Format(http.TimeFormat))
		if r.Status == http.StatusCreated || write && r.Status == http.StatusOK {
			h.Set("Location", o.BaseURL+"/"+v.Type+"/"+v.ID+"/_history/"+itoa64(v.Version))
		}
	}
	body, stream := r.Body, r.Stream
	if write {
		switch o.Return {
		case resources.ReturnMinimal:
			body, stream = nil, nil
		case resources.ReturnOutcome:
			stream = nil
			var warnings []outcome.Issue
			for _, w := range r.Warnings {
				warnings = append(warnings, outcome.Issue{Severity: "warning", Code: "structure", Diagnostics: w})
			}
			body = outcome.Info(http.StatusText(r.Status), warnings...)
		}
	}
	if r.Status == http.StatusNoContent {
		body, stream = nil, nil
	}
	// Fail closed: nothing is sent until its audit record is durable. A
	// write's record committed with it.
	if auditedInTx(c) {
		a.send(c, r.Status, body, stream)
		return nil
	}
	if err := a.auditRecord(c, r.Status, r.Touched()); err != nil {
		a.log.Error("audit failed", "request_id", requestID(c), "err", err)
		for _, k := range []string{"ETag", "Last-Modified", "Location"} {
			h.Del(k)
		}
		return errAuditUnavailable
	}
	a.send(c, r.Status, body, stream)
	return nil
}

// send writes a body, or a streamed one, whose audit record is durable.
func (a *app) send(c echo.Context, status int, body []byte, stream func(context.Context, io.Writer) error) {
	if stream == nil {
		writeFHIR(c, status, body)
		return
	}
	w := c.Response()
	w.Header().Set(echo.HeaderContentType, fhirJSON)
	w.WriteHeader(status)
	if err := stream(c.Request().Context(), w); err != nil {
		// The status and part of the Bundle are out: an OperationOutcome
		// can no longer replace them, and a finished response would pass
		// for a whole page. Cutting the connection leaves the client a
		// chunked body without its end.
		level := slog.LevelError
		if c.Request().Context().Err() != nil {
			level = slog.LevelInfo // the client left: nothing of ours failed
		}
		a.log.Log(c.Request().Context(), level, "streamed answer cut", "request_id", requestID(c), "err", err)
		panic(http.ErrAbortHandler)
	}
}
