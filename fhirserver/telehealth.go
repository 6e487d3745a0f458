package fhirserver

import (
	"io"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/fhirserver/fhirserver/operations/telehealth"
	"github.com/fhirserver/fhirserver/outcome"
)

// Telehealth runs telehealth sessions (operations/telehealth): their
// operations, and the video server's reports; nil answers them 501.
type Telehealth = *telehealth.Service

// videoWebhook is POST /video/webhook: the video server's signed reports
// (LiveKit's webhooks). It carries no bearer token: the provider's
// signature is the authentication.
func (a *app) videoWebhook(c echo.Context) error {
	t := a.d.Telehealth
	if t == nil {
		return outcome.E(outcome.NotSupported, "telehealth is not enabled")
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
