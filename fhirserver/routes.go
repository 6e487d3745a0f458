package fhirserver

import (
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/fhirserver/fhirserver/outcome"
	"github.com/fhirserver/fhirserver/profiles"
	"github.com/fhirserver/fhirserver/resources"
	"github.com/fhirserver/fhirserver/storage"
)

// fhirRoutes mounts the RESTful interactions, and the operations of the
// registry before the generic [type]/[id] routes. The CapabilityStatement
// lists the same interactions and operations (capability.go); change both
// together.
func (a *app) fhirRoutes(add func(method, path string, h echo.HandlerFunc)) {
	reg := registry(a.d)
	add(http.MethodPost, "", a.bundle)
	add(http.MethodGet, "/_history", a.history)
	add(http.MethodGet, "/:type", a.typed(a.search))
	a.operationRoutes(reg, add)
	add(http.MethodGet, "/OperationDefinition/:id", a.operationDefinition(reg))
	add(http.MethodPost, "/:type/_search", a.typed(a.searchPost))
	add(http.MethodPost, "/:type", a.typed(a.create))
	add(http.MethodPut, "/:type", a.typed(a.conditionalUpdate))
	add(http.MethodDelete, "/:type", a.typed(a.conditionalDelete))
	add(http.MethodGet, "/:type/_history", a.typed(a.history))
	add(http.MethodGet, "/:type/:id", a.typed(a.read))
	add(http.MethodPut, "/:type/:id", a.typed(a.update))
	add(http.MethodPatch, "/:type/:id", a.typed(a.patch))
	add(http.MethodDelete, "/:type/:id", a.typed(a.delete))
	add(http.MethodGet, "/:type/:id/_history", a.typed(a.history))
	add(http.MethodGet, "/:type/:id/_history/:vid", a.typed(a.vread))
	add(http.MethodGet, "/:type/:id/:compartmentType", a.typed(a.compartmentSearch))
}

// trimSlash makes [base]/path/ the request [base]/path: clients build
// URLs by joining and often leave the slash. It runs before routing, so
// the route found, and with it authentication, scopes and audit, is the
// one without the slash.
func trimSlash(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		u := c.Request().URL
		// Echo routes on RawPath when it is set: trim both or neither.
		if strings.HasPrefix(u.Path, "/fhir/") && strings.HasSuffix(u.Path, "/") && (u.RawPath == "" || strings.HasSuffix(u.RawPath, "/")) {
			u.Path = strings.TrimSuffix(u.Path, "/")
			if u.RawPath != "" {
				u.RawPath = strings.TrimSuffix(u.RawPath, "/")
			}
		}
		return next(c)
	}
}

// typed answers 404 for a path segment that is not a resource type.
func (a *app) typed(h echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if !profiles.IsResourceType(c.Param("type")) {
			return outcome.E(outcome.NotFound, "%q is not a resource type this server knows", c.Param("type"))
		}
		return h(c)
	}
}

func key(c echo.Context) storage.Key { return storage.Key{Type: c.Param("type"), ID: c.Param("id")} }

// options reads the request's preferences and preconditions.
func (a *app) options(c echo.Context) resources.Options {
	r := c.Request()
	o := resources.Options{
		BaseURL: a.fhirBase(),
		IfMatch: r.Header.Get("If-Match"),
		IfNone:  r.Header.Get("If-None-Exist"),
		Query:   r.URL.RawQuery,
	}
	for _, pref := range r.Header.Values("Prefer") {
		for _, p := range strings.Split(pref, ";") {
			switch strings.ReplaceAll(strings.TrimSpace(p), " ", "") {
			case "return=minimal":
				o.Return = resources.ReturnMinimal
			case "return=representation":
				o.Return = resources.ReturnRepresentation
			case "return=OperationOutcome":
				o.Return = resources.ReturnOutcome
			case "handling=strict":
				o.Strict = true
			}
		}
	}
	return o
}

func body(c echo.Context) ([]byte, error) {
	var b []byte
	var err error
	if n := c.Request().ContentLength; n > 0 {
		// Known length, already held under the body limit by its
		// middleware: one allocation instead of ReadAll's doublings, which
		// cost a twelfth of ingest CPU on megabyte Bundles.
		b = make([]byte, n)
		_, err = io.ReadFull(c.Request().Body, b)
	} else {
		b, err = io.ReadAll(c.Request().Body)
	}
	if err != nil {
		return nil, err // the body limit's 413 surfaces here
	}
	if len(b) == 0 {
		return nil, outcome.E(outcome.Invalid, "the request has no body").WithCode("required")
	}
	return b, nil
}

func (a *app) read(c echo.Context) error {
	r, err := a.res.Read(c.Request().Context(), callerOf(c), key(c))
	if err != nil {
		return err
	}
	return a.respond(c, r, a.options(c), false)
}

func (a *app) vread(c echo.Context) error {
	r, err := a.res.VRead(c.Request().Context(), callerOf(c), key(c), c.Param("vid"))
	if err != nil {
		return err
	}
	return a.respond(c, r, a.options(c), false)
}

func (a *app) search(c echo.Context) error {
	return a.searchWith(c, c.Param("type"), c.QueryParams(), nil)
}

// searchPost is POST [type]/_search: the parameters come form-encoded in
// the body, and may also be in the URL.
func (a *app) searchPost(c echo.Context) error {
	form, err := c.FormParams()
	if err != nil {
		return outcome.E(outcome.Invalid, "the search parameters are not a valid form")
	}
	q := c.QueryParams()
	for k, v := range form {
		q[k] = append(q[k], v...)
	}
	return a.searchWith(c, c.Param("type"), q, nil)
}

// compartmentSearch is GET [Compartment]/[id]/[type]?params.
func (a *app) compartmentSearch(c echo.Context) error {
	typ := c.Param("compartmentType")
	if !profiles.IsResourceType(typ) {
		return outcome.E(outcome.NotFound, "%q is not a resource type this server knows", typ)
	}
	k := key(c)
	return a.searchWith(c, typ, c.QueryParams(), &k)
}

func (a *app) searchWith(c echo.Context, typ string, q url.Values, compartment *storage.Key) error {
	o := a.options(c)
	r, err := a.res.StreamSearch(c.Request().Context(), callerOf(c), typ, q, o, compartment)
	if err != nil {
		return err
	}
	return a.respond(c, r, o, false)
}

func (a *app) history(c echo.Context) error {
	o := a.options(c)
	p := resources.HistoryParams{Type: c.Param("type"), ID: c.Param("id"), Query: c.QueryParams()}
	r, err := a.res.History(c.Request().Context(), callerOf(c), p, o)
	if err != nil {
		return err
	}
	return a.respond(c, r, o, false)
}

// writeWith runs a write interaction that takes the request body.
func (a *app) writeWith(c echo.Context, run func(b []byte, o resources.Options) (resources.Result, error)) error {
	b, err := body(c)
	if err != nil {
		return err
	}
	o := a.options(c)
	r, err := run(b, o)
	if err != nil {
		return err
	}
	return a.respond(c, r, o, true)
}

func (a *app) create(c echo.Context) error {
	return a.writeWith(c, func(b []byte, o resources.Options) (resources.Result, error) {
		return a.res.Create(c.Request().Context(), callerOf(c), c.Param("type"), b, o)
	})
}

func (a *app) update(c echo.Context) error {
	return a.writeWith(c, func(b []byte, o resources.Options) (resources.Result, error) {
		return a.res.Update(c.Request().Context(), callerOf(c), key(c), b, o)
	})
}

func (a *app) conditionalUpdate(c echo.Context) error {
	return a.writeWith(c, func(b []byte, o resources.Options) (resources.Result, error) {
		return a.res.ConditionalUpdate(c.Request().Context(), callerOf(c), c.Param("type"), b, o)
	})
}

func (a *app) patch(c echo.Context) error {
	return a.writeWith(c, func(b []byte, o resources.Options) (resources.Result, error) {
		return a.res.Patch(c.Request().Context(), callerOf(c), key(c), b, o)
	})
}

// bundle answers with the response Bundle whatever Prefer says: Prefer
// shapes the entries inside it.
func (a *app) bundle(c echo.Context) error {
	b, err := body(c)
	if err != nil {
		return err
	}
	o := a.options(c)
	r, err := a.res.Bundle(c.Request().Context(), callerOf(c), b, o)
	if err != nil {
		return err
	}
	return a.respond(c, r, o, false)
}

func (a *app) delete(c echo.Context) error {
	o := a.options(c)
	r, err := a.res.Delete(c.Request().Context(), callerOf(c), key(c), o)
	if err != nil {
		return err
	}
	return a.respondDelete(c, r, o)
}

func (a *app) conditionalDelete(c echo.Context) error {
	o := a.options(c)
	r, err := a.res.ConditionalDelete(c.Request().Context(), callerOf(c), c.Param("type"), o)
	if err != nil {
		return err
	}
	return a.respondDelete(c, r, o)
}

func (a *app) respondDelete(c echo.Context, r resources.Result, o resources.Options) error {
	if o.Return == resources.ReturnOutcome {
		r.Status = http.StatusOK
		r.Body = outcome.Info("deleted")
		r.Version = nil
		return a.respond(c, r, resources.Options{BaseURL: o.BaseURL}, false)
	}
	return a.respond(c, r, o, false)
}
