// Package outcome is the project's error type: every error that reaches a
// client carries a Kind, which decides the HTTP status, and a FHIR issue
// code. It is a leaf package that any other package may import; only
// fhirserver turns these errors into OperationOutcome responses.
package outcome

import (
	"errors"
	"fmt"
)

// Kind classifies an error by what the client should do about it. The list
// only grows; each Kind has exactly one HTTP status.
type Kind int

const (
	Internal           Kind = iota // a bug or an outage: 500, never echoed
	Invalid                        // 400
	Unauthorized                   // 401
	Forbidden                      // 403
	NotFound                       // 404
	NotSupported                   // 405: the interaction is not supported
	NotAcceptable                  // 406
	Conflict                       // 409
	Gone                           // 410
	PreconditionFailed             // 412
	TooLarge                       // 413
	MediaType                      // 415
	Unprocessable                  // 422
	Transient                      // 503
)

// Status is the HTTP status code of the kind.
func (k Kind) Status() int {
	switch k {
	case Invalid:
		return 400
	case Unauthorized:
		return 401
	case Forbidden:
		return 403
	case NotFound:
		return 404
	case NotSupported:
		return 405
	case NotAcceptable:
		return 406
	case Conflict:
		return 409
	case Gone:
		return 410
	case PreconditionFailed:
		return 412
	case TooLarge:
		return 413
	case MediaType:
		return 415
	case Unprocessable:
		return 422
	case Transient:
		return 503
	}
	return 500
}

// Code is the default OperationOutcome issue code for the kind.
func (k Kind) Code() string {
	switch k {
	case Invalid:
		return "invalid"
	case Unauthorized:
		return "login"
	case Forbidden:
		return "forbidden"
	case NotFound:
		return "not-found"
	case NotSupported, MediaType, NotAcceptable:
		return "not-supported"
	case Conflict, PreconditionFailed:
		return "conflict"
	case Gone:
		return "deleted"
	case TooLarge:
		return "too-long"
	case Unprocessable:
		return "processing"
	case Transient:
		return "transient"
	}
	return "exception"
}

// Issue is one OperationOutcome issue.
type Issue struct {
	Severity    string // error unless set
	Code        string // the Kind's code unless set
	Diagnostics string
	Expression  []string
}

// Error is an error with a Kind and the issues to report. Op names the
// operation that failed, for logs only.
type Error struct {
	Op     string
	Kind   Kind
	Issues []Issue
	Err    error
}

func (e *Error) Error() string {
	msg := e.Op
	if len(e.Issues) > 0 {
		msg = join(msg, e.Issues[0].Diagnostics)
	}
	if e.Err != nil {
		msg = join(msg, e.Err.Error())
	}
	return msg
}

func join(a, b string) string {
	if a == "" {
		return b
	}
	if b == "" {
		return a
	}
	return a + ": " + b
}

func (e *Error) Unwrap() error { return e.Err }

// E builds an error of kind k whose single issue says the formatted message.
func E(k Kind, format string, args ...any) *Error {
	return &Error{Kind: k, Issues: []Issue{{Diagnostics: fmt.Sprintf(format, args...)}}}
}

// At adds FHIRPath expressions locating the problem to the first issue.
func (e *Error) At(expr ...string) *Error {
	if len(e.Issues) == 0 {
		e.Issues = []Issue{{}}
	}
	e.Issues[0].Expression = append(e.Issues[0].Expression, expr...)
	return e
}

// WithCode overrides the issue code of the first issue.
func (e *Error) WithCode(code string) *Error {
	if len(e.Issues) == 0 {
		e.Issues = []Issue{{}}
	}
	e.Issues[0].Code = code
	return e
}

// Wrap keeps err as the cause, for logs; it is never shown to clients.
func (e *Error) Wrap(op string, err error) *Error {
	e.Op, e.Err = op, err
	return e
}

// KindOf returns the Kind of the first *Error in err's chain, or Internal.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return Internal
}

// Is reports whether err is an *Error of kind k.
func Is(err error, k Kind) bool {
	var e *Error
	return errors.As(err, &e) && e.Kind == k
}
