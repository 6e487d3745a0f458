package fhirserver

import (
	"context"
	"net/http"
	"net/url"

	"github.com/labstack/echo/v4"

	"github.com/fhirserver/fhirserver/outcome"
	"github.com/fhirserver/fhirserver/resources"
	"github.com/fhirserver/fhirserver/storage"
)

// Scheduling runs the scheduling operations (operations/scheduling).
type Scheduling interface {
	SetAvailability(ctx context.Context, c resources.Caller, practitioner string, body []byte) ([]byte, error)
	Block(ctx context.Context, c resources.Caller, practitioner string, body []byte) ([]byte, error)
	Find(ctx context.Context, c resources.Caller, q url.Values, o resources.Options) (resources.Result, error)
	Book(ctx context.Context, c resources.Caller, body []byte, o resources.Options) (resources.Result, error)
	AppointmentEvents(ctx context.Context, c resources.Caller, id string) ([]byte, error)
	JoinWaitlist(ctx context.Context, c resources.Caller, body []byte) (resources.Result, error)
	SearchEvents(ctx context.Context, c resources.Caller, q url.Values) ([]byte, error)
}

// searchEvents is GET Appointment/$events.
func (a *app) searchEvents(c echo.Context) error {
	s, err := a.scheduling()
	if err != nil {
		return err
	}
	out, err := s.SearchEvents(c.Request().Context(), callerOf(c), c.QueryParams())
	if err != nil {
		return err
	}
	return a.respond(c, resources.Result{Status: http.StatusOK, Body: out}, a.options(c), false)
}

// waitlist is Appointment/$waitlist.
func (a *app) waitlist(c echo.Context) error {
	return a.withBody(c, true, func(b []byte) (resources.Result, error) {
		s, err := a.scheduling()
		if err != nil {
			return resources.Result{}, err
		}
		return s.JoinWaitlist(c.Request().Context(), callerOf(c), b)
	})
}

// withBody runs an operation on the request's body and answers its result.
func (a *app) withBody(c echo.Context, write bool, run func(b []byte) (resources.Result, error)) error {
	b, err := body(c)
	if err != nil {
		return err
	}
	r, err := run(b)
	if err != nil {
		return err
	}
	return a.respond(c, r, a.options(c), write)
}

func (a *app) scheduling() (Scheduling, error) {
	if a.d.Scheduling == nil {
		return nil, outcome.E(outcome.NotSupported, "scheduling is not enabled")
	}
	return a.d.Scheduling, nil
}

// availability is Practitioner/[id]/$availability.
func (a *app) availability(c echo.Context) error {
	return a.practitionerOp(c, func(s Scheduling, b []byte) ([]byte, error) {
		return s.SetAvailability(c.Request().Context(), callerOf(c), c.Param("id"), b)
	})
}

// block is Practitioner/[id]/$block.
func (a *app) block(c echo.Context) error {
	return a.practitionerOp(c, func(s Scheduling, b []byte) ([]byte, error) {
		return s.Block(c.Request().Context(), callerOf(c), c.Param("id"), b)
	})
}

func (a *app) practitionerOp(c echo.Context, run func(s Scheduling, b []byte) ([]byte, error)) error {
	return a.withBody(c, false, func(b []byte) (resources.Result, error) {
		s, err := a.scheduling()
		if err != nil {
			return resources.Result{}, err
		}
		out, err := run(s, b)
		return resources.Result{Status: http.StatusOK, Body: out, Keys: []storage.Key{{Type: "Practitioner", ID: c.Param("id")}}}, err
	})
}

// find is Appointment/$find: parameters in the query or, for POST, a form.
func (a *app) find(c echo.Context) error {
	s, err := a.scheduling()
	if err != nil {
		return err
	}
	q := c.QueryParams()
	if c.Request().Method == http.MethodPost {
		form, err := c.FormParams()
		if err != nil {
			return outcome.E(outcome.Invalid, "the parameters are not a valid form")
		}
		for k, v := range form {
			q[k] = append(q[k], v...)
		}
	}
	r, err := s.Find(c.Request().Context(), callerOf(c), q, a.options(c))
	if err != nil {
		return err
	}
	return a.respond(c, r, a.options(c), false)
}

// book is Appointment/$book.
func (a *app) book(c echo.Context) error {
	return a.withBody(c, true, func(b []byte) (resources.Result, error) {
		s, err := a.scheduling()
		if err != nil {
			return resources.Result{}, err
		}
		return s.Book(c.Request().Context(), callerOf(c), b, a.options(c))
	})
}

// appointmentEvents is Appointment/[id]/$events.
func (a *app) appointmentEvents(c echo.Context) error {
	s, err := a.scheduling()
	if err != nil {
		return err
	}
	out, err := s.AppointmentEvents(c.Request().Context(), callerOf(c), c.Param("id"))
	if err != nil {
		return err
	}
	r := resources.Result{Status: http.StatusOK, Body: out, Keys: []storage.Key{{Type: "Appointment", ID: c.Param("id")}}}
	return a.respond(c, r, a.options(c), false)
}
