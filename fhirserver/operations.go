package fhirserver

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/fhirserver/fhirserver/operations"
	"github.com/fhirserver/fhirserver/operations/breakglass"
	"github.com/fhirserver/fhirserver/operations/docref"
	"github.com/fhirserver/fhirserver/operations/everything"
	"github.com/fhirserver/fhirserver/operations/scheduling"
	"github.com/fhirserver/fhirserver/operations/telehealth"
	"github.com/fhirserver/fhirserver/operations/validate"
	"github.com/fhirserver/fhirserver/operations/verify"
	"github.com/fhirserver/fhirserver/outcome"
	"github.com/fhirserver/fhirserver/storage"
)

// registry is every $operation the server answers, one line each, in the
// order the CapabilityStatement lists them. Routes, the
// CapabilityStatement's operation entries and the OperationDefinitions
// served are made from it: a new operation is its folder under
// operations/ and one line here.
func registry(d Deps) *operations.Registry {
	var r operations.Registry
	r.MustAdd(validate.Operation(d.Resources))
	r.MustAdd(everything.Operation(d.Resources))
	r.MustAdd(docref.Operation(d.Resources))
	r.MustAdd(breakglass.Operation(d.BreakGlass))
	r.MustAdd(verify.Operation(d.VerifyAudit))
	r.MustAdd(scheduling.AvailabilityOperation(d.Scheduling))
	r.MustAdd(scheduling.BlockOperation(d.Scheduling))
	r.MustAdd(scheduling.FindOperation(d.Scheduling))
	r.MustAdd(scheduling.BookOperation(d.Scheduling))
	r.MustAdd(scheduling.EventsOperation(d.Scheduling))
	r.MustAdd(scheduling.WaitlistOperation(d.Scheduling))
	r.MustAdd(telehealth.TelehealthOperation(d.Telehealth))
	r.MustAdd(telehealth.JoinOperation(d.Telehealth))
	r.MustAdd(telehealth.StartOperation(d.Telehealth))
	r.MustAdd(telehealth.CompleteOperation(d.Telehealth))
	r.MustAdd(telehealth.AbandonOperation(d.Telehealth))
	r.MustAdd(telehealth.NoShowOperation(d.Telehealth))
	r.MustAdd(telehealth.WaitingRoomOperation(d.Telehealth))
	r.MustAdd(telehealth.ConsentOperation(d.Telehealth))
	r.MustAdd(telehealth.VideoTokenOperation(d.Telehealth))
	r.MustAdd(telehealth.VideoFailoverOperation(d.Telehealth))
	r.MustAdd(telehealth.QualityOperation(d.Telehealth))
	return &r
}

// operationKey holds, for the audit record, the *operations.Operation a
// request runs.
const operationKey = "fhirserver.operation"

// operationRoutes mounts every registered operation at each of its levels
// and types, for each method it takes.
func (a *app) operationRoutes(reg *operations.Registry, add func(method, path string, h echo.HandlerFunc)) {
	for _, o := range reg.All() {
		types := o.Types
		if types == nil {
			types = []string{""} // every type: [type] in the path
		}
		route := func(path, typ string) {
			h := a.operation(o, typ)
			if typ == "" && path != "/$"+o.Code {
				h = a.typed(h) // [type] in the path: 404 unless it names one
			}
			for _, m := range []string{http.MethodGet, http.MethodPost} {
				if o.Allows(m) {
					add(m, path, h)
				}
			}
		}
		if o.Levels&operations.System != 0 {
			route("/$"+o.Code, "")
		}
		for _, t := range types {
			seg := "/" + t
			if t == "" {
				seg = "/:type"
			}
			if o.Levels&operations.Type != 0 {
				route(seg+"/$"+o.Code, t)
			}
			if o.Levels&operations.Instance != 0 {
				route(seg+"/:id/$"+o.Code, t)
			}
		}
	}
}

// operation answers o on typ ("": the type the path names): it reads
// the request as o declares, runs o's handler and answers its result as
// any interaction's.
func (a *app) operation(o *operations.Operation, typ string) echo.HandlerFunc {
	return func(c echo.Context) error {
		c.Set(operationKey, o)
		caller := callerOf(c)
		if o.Allow != nil {
			if err := o.Allow(caller); err != nil {
				return err
			}
		}
		t := typ
		if t == "" {
			t = c.Param("type")
		}
		r := c.Request()
		if o.Upgrade != nil && r.Header.Get("Upgrade") != "" {
			return o.Upgrade(c.Response(), r, &operations.Exchange{Caller: caller, Type: t, ID: c.Param("id"),
				Audit: func(status int, touched []storage.Key) error {
					if err := a.auditRecord(c, status, touched); err != nil {
						return errAuditUnavailable
					}
					return nil
				},
				Authenticate: func(r *http.Request) error { _, err := a.auth.Authenticate(r); return err },
			})
		}
		req := &operations.Request{Caller: caller, Method: r.Method, Type: t, ID: c.Param("id"),
			Query: c.QueryParams(), Options: a.options(c), RemoteAddr: c.RealIP()}
		if r.Method == http.MethodPost {
			switch o.Input {
			case operations.Body:
				b, err := body(c)
				if err != nil {
					return err
				}
				req.Body = b
			case operations.Form:
				form, err := c.FormParams()
				if err != nil {
					return outcome.E(outcome.Invalid, "the parameters are not a valid form")
				}
				for k, v := range form {
					req.Query[k] = append(req.Query[k], v...)
				}
			}
		}
		res, err := o.Handler(r.Context(), req)
		if s := req.Search; s != nil {
			c.Set(searchRunKey, searchRun{s.Type, s.Query})
		}
		if err != nil {
			return err
		}
		return a.respond(c, res, req.Options, o.Written)
	}
}
