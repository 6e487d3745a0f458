package fhirserver

import (
	"mime"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/fhirserver/fhirserver/outcome"
)

// negotiate refuses bodies this server cannot read (415) and answers it
// cannot give (406): it speaks JSON only.
func (a *app) negotiate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		if f := r.URL.Query().Get("_format"); f != "" && !jsonFormat(f) {
			return outcome.E(outcome.NotAcceptable, "only JSON is supported; _format=%s cannot be served", f)
		}
		if acc := r.Header.Get("Accept"); acc != "" && !acceptsJSON(acc) {
			return outcome.E(outcome.NotAcceptable, "only application/fhir+json is served")
		}
		if hasBody(r) {
			mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
			if err != nil || !bodyTypeAllowed(r, mt) {
				return outcome.E(outcome.MediaType, "content type %q is not supported for %s", r.Header.Get("Content-Type"), r.Method)
			}
		}
		return next(c)
	}
}

func hasBody(r *http.Request) bool {
	switch r.Method {
	case http.MethodPost, http.MethodPut, http.MethodPatch:
		return r.ContentLength != 0
	}
	return false
}

func bodyTypeAllowed(r *http.Request, mt string) bool {
	if r.Method == http.MethodPatch {
		return mt == "application/json-patch+json"
	}
	if strings.HasSuffix(r.URL.Path, "/_search") {
		return mt == "application/x-www-form-urlencoded"
	}
	return mt == "application/fhir+json" || mt == "application/json"
}

func jsonFormat(f string) bool {
	switch f {
	case "json", "application/json", "application/fhir+json":
		return true
	}
	return false
}

func acceptsJSON(accept string) bool {
	for _, part := range strings.Split(accept, ",") {
		mt, _, _ := mime.ParseMediaType(strings.TrimSpace(part))
		switch mt {
		case "*/*", "application/*", "application/json", "application/fhir+json", "application/json+fhir":
			return true
		}
	}
	return false
}
