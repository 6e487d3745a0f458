// Package operations holds the server's $operations, one folder each, and
// the registry they are declared in.
//
// An operation is one Operation value, declared in its folder: its code,
// resource types and levels (system, type, instance), its parameters, who
// may call it (Who, and Allow for a check its handler does not make), its
// audit action, and its Handler, which knows nothing of HTTP or Echo (an
// Upgrade takes over the exchange for the one that needs it, the
// telehealth waiting room's WebSocket). fhirserver registers each in one
// line (fhirserver/operations.go) and makes from the Registry the routes
// (GET only for an operation that changes nothing), the
// CapabilityStatement's operation entries and the OperationDefinitions it
// serves at [base]/OperationDefinition/[id]. Adding an operation is a
// folder here and that one line.
//
// The folders: everything (Patient/$everything), validate ([type]/$validate),
// verify (AuditEvent/$verify), breakglass (Patient/[id]/$break-glass),
// docref (DocumentReference/$docref), scheduling ($availability, $block,
// $find, $book, $events, $waitlist) and telehealth (the session's
// operations). A domain folder declares one value per operation.
//
// This package imports resources, storage and the standard library. An
// operation imports it, resources, search, profiles, storage and outcome;
// operations never import one another, nor fhirserver or Echo.
package operations
