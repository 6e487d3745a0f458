package fhirserver

import (
	"context"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/fhirserver/fhirserver/operations"
	"github.com/fhirserver/fhirserver/outcome"
	"github.com/fhirserver/fhirserver/profiles"
	"github.com/fhirserver/fhirserver/resources"
	"github.com/fhirserver/fhirserver/storage"
	"github.com/fhirserver/fhirserver/storage/audit"
)

// Auditor makes an audit record durable before it returns (storage/audit's
// Log). There is no switch that turns auditing off: the server cannot be
// built without one.
type Auditor interface {
	Record(ctx context.Context, event []byte) error
}

// interactionOf names a FHIR route's interaction (restful-interaction
// code).
func interactionOf(method, route string) string {
	route = strings.TrimPrefix(route, "/fhir")
	switch {
	case strings.Contains(route, "$"):
		return "operation"
	case method == http.MethodPost && route == "":
		return "transaction"
	case strings.HasSuffix(route, "/_search"):
		return "search-type"
	case strings.Contains(route, "_history") && strings.HasSuffix(route, ":vid"):
		return "vread"
	case strings.Contains(route, "_history"):
		return "history"
	case method == http.MethodGet && (route == "/:type" || strings.HasSuffix(route, ":compartmentType")):
		return "search-type"
	case method == http.MethodGet:
		return "read"
	case method == http.MethodPost:
		return "create"
	case method == http.MethodPut:
		return "update"
	case method == http.MethodPatch:
		return "patch"
	case method == http.MethodDelete:
		return "delete"
	}
	return strings.ToLower(method)
}

// auditRecord writes the audit record of a FHIR request.
func (a *app) auditRecord(c echo.Context, status int, touched []storage.Key) error {
	body, err := a.auditEvent(c, status, touched)
	if err != nil {
		return err
	}
	return a.audit.Record(c.Request().Context(), body)
}

// auditEvent is the audit record of a FHIR request, rendered.
func (a *app) auditEvent(c echo.Context, status int, touched []storage.Key) ([]byte, error) {
	return a.recordOf(c, status, touched).JSON()
}

// recordOf translates a FHIR request into its audit record: who asked (the
// user, the client, from where), what it touched, how it ended. What a
// record holds and how it reads is storage/audit's.
func (a *app) recordOf(c echo.Context, status int, touched []storage.Key) audit.Record {
	r := c.Request()
	code := interactionOf(r.Method, c.Path())
	caller := callerOf(c)
	rec := audit.Record{
		Server:      a.cfg.BaseURL,
		Interaction: code,
		Status:      status,
		Client:      audit.Client{ID: caller.ID, Address: c.RealIP(), UserAgent: r.UserAgent()},
		User:        caller.User,
		FHIRUser:    caller.FHIRUser,
		BreakGlass:  caller.BreakGlass,
		Touched:     touched,
		Blind:       audit.Blinder{Token: a.d.Blind, String: a.d.BlindString, Identifier: resources.SSNSystem},
	}
	if op, ok := c.Get(operationKey).(*operations.Operation); ok {
		rec.Action = op.Action()
	}
	rec.Reason, _ = c.Get(refusalKey).(string)
	typ, query := c.Param("type"), r.URL.RawQuery
	ran, isSearch := c.Get(searchRunKey).(searchRun)
	if isSearch {
		typ, query = ran.typ, ran.query.Encode()
	}
	if code == "search-type" || isSearch {
		rec.Search = &audit.Search{Type: typ, Query: query}
	}
	return rec
}

// writeRecorder gives a write's transaction the request's audit record,
// so that the write commits with it (resources.Recorder).
type writeRecorder struct {
	a         *app
	c         echo.Context
	committed bool
}

const recorderKey = "fhir.recorder"

func (w *writeRecorder) Record(status int, touched []storage.Key) ([]byte, error) {
	return w.a.auditEvent(w.c, status, touched)
}

func (w *writeRecorder) Committed() { w.committed = true }

// recordWrites has the writes of a request that may write commit with
// their audit record. Reads need none: their record is durable before
// their answer leaves (respond).
func (a *app) recordWrites(c echo.Context) {
	if m := c.Request().Method; m == http.MethodGet || m == http.MethodHead {
		return
	}
	w := &writeRecorder{a: a, c: c}
	c.Set(recorderKey, w)
	c.SetRequest(c.Request().WithContext(resources.WithRecorder(c.Request().Context(), w)))
}

// auditedInTx reports whether the request's writes committed with its
// audit record, which then needs no second one. An operation's answer
// still gets its own: its writes are recorded with them, and what it
// answers about (the patient of a $break-glass) with the answer.
func auditedInTx(c echo.Context) bool {
	w, _ := c.Get(recorderKey).(*writeRecorder)
	_, isOperation := c.Get(operationKey).(*operations.Operation)
	return w != nil && w.committed && !isOperation
}

// searchRunKey holds the search an operation is answered by (searchRun):
// the audit record keeps its query as it keeps a search's.
const searchRunKey = "fhir.search"

type searchRun struct {
	typ   string
	query url.Values
}

// errAuditUnavailable is what a client gets when its request cannot be
// audited: nothing it asked for is sent.
var errAuditUnavailable = outcome.E(outcome.Transient, "the request could not be audited, so it was not answered; try again")

// keyOfPath is the resource a failed request named, if it named one.
func keyOfPath(c echo.Context) []storage.Key {
	if t, id := c.Param("type"), c.Param("id"); t != "" && id != "" {
		return []storage.Key{{Type: printable(t), ID: printable(id)}}
	}
	// A refused operation on an instance names what it was for: the
	// patient of a $break-glass, the session of a telehealth move.
	if id := c.Param("id"); id != "" {
		if typ, op, ok := strings.Cut(strings.TrimPrefix(c.Path(), "/fhir/"), "/:id/"); ok && strings.HasPrefix(op, "$") && profiles.IsResourceType(typ) {
			return []storage.Key{{Type: typ, ID: id}}
		}
	}
	return nil
}
