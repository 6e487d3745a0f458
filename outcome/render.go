package outcome

import (
	"encoding/json"
	"errors"
)

// From returns err as an *Error; anything else becomes an Internal error
// whose cause is kept for the log and never shown.
func From(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Kind: Internal, Issues: []Issue{{Diagnostics: "internal server error"}}, Err: err}
}

type ooIssue struct {
	Severity    string   `json:"severity"`
	Code        string   `json:"code"`
	Diagnostics string   `json:"diagnostics,omitempty"`
	Expression  []string `json:"expression,omitempty"`
}

type operationOutcome struct {
	ResourceType string    `json:"resourceType"`
	Issue        []ooIssue `json:"issue"`
}

// OperationOutcome renders the error as a FHIR OperationOutcome.
func (e *Error) OperationOutcome() []byte {
	issues := e.Issues
	if len(issues) == 0 {
		issues = []Issue{{}}
	}
	oo := operationOutcome{ResourceType: "OperationOutcome"}
	for _, is := range issues {
		oo.Issue = append(oo.Issue, ooIssue{
			Severity:    or(is.Severity, "error"),
			Code:        or(is.Code, e.Kind.Code()),
			Diagnostics: is.Diagnostics,
			Expression:  is.Expression,
		})
	}
	b, _ := json.Marshal(oo)
	return b
}

// Info renders an OperationOutcome that reports success, with optional
// warnings.
func Info(message string, warnings ...Issue) []byte {
	e := &Error{Issues: append([]Issue{{Severity: "information", Code: "informational", Diagnostics: message}}, warnings...)}
	return e.OperationOutcome()
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
