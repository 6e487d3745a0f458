// Package access decides what a caller may do: "may this token do this
// interaction on this type", from the token's scopes (SMART v1 and v2, as
// the authorization server reads them), the user's role (its permissions
// are data: the roles table), the patient in the token's context, care
// relationships and break-glass (the patients a user's queries may see,
// enforced by row-level security), and the rules no token can change (the
// audit log is the server's to write; only clinicians break the glass).
// Caller.Decide returns the decision with its reason and limits; the write
// path, searches and operations ask it, and a refusal's reason is what the
// client and the audit record read.
//
// What is decided row by row (a patient's compartment, care relationships)
// is enforced where the rows are: resources holds writes to the decision's
// patient, and storage's row-level security the queries of a user held to
// care. It imports outcome and storage (for the care limit), nothing else
// of the server.
package access
