// Package fhirserver is the Echo application, the HTTP edge: middleware
// (request ids and logs, panic recovery, body limits, CORS, content
// negotiation, authentication into an access.Caller, well-formedness),
// the RESTful routes, the routes made from the operations registry (one
// registration line per operation, operations.go), the single error
// handler that turns outcome errors into OperationOutcomes, the
// translation of a request into its audit record (storage/audit renders
// and chains it), the CapabilityStatement and OperationDefinitions built
// from what is routed, and the admin API. It holds no SQL. No answer
// leaves before its audit record is durable (respond); a streamed page
// is written after it, and cut, never finished, when it fails midway.
//
// It imports operations, resources, resources/access, search, profiles,
// smart, storage (with storage/audit) and outcome; nothing imports it but cmd. Its black-box
// tests (*_test.go) drive the whole server through HTTP on a real
// PostgreSQL.
package fhirserver
