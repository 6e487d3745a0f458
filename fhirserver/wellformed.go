package fhirserver

import (
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/fhirserver/fhirserver/outcome"
	"github.com/fhirserver/fhirserver/search"
)

// wellFormed refuses a request whose path segments or query hold a NUL
// byte or invalid UTF-8: no id, search value or cursor can, and
// PostgreSQL would refuse them as text. It runs after authentication, so
// that the refusal is audited with the caller, like any other.
func (a *app) wellFormed(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		for _, v := range c.ParamValues() {
			if !search.WellFormed(v) {
				return outcome.E(outcome.Invalid, "the path holds a NUL byte or is not UTF-8")
			}
		}
		for name, values := range c.QueryParams() {
			if !search.WellFormed(name) || !search.WellFormed(strings.Join(values, "")) {
				return outcome.E(outcome.Invalid, "the query holds a NUL byte or is not UTF-8")
			}
		}
		return next(c)
	}
}

// printable is s as an audit record may hold it: PostgreSQL's jsonb takes
// neither a NUL nor invalid UTF-8, and a record that cannot be written
// would leave the attempt unaudited.
func printable(s string) string {
	if search.WellFormed(s) {
		return s
	}
	return strings.ToValidUTF8(strings.ReplaceAll(s, "\x00", "\uFFFD"), "\uFFFD")
}
