// Package fhirserver is the Echo application: routes, middleware (auth, body
// limit, content type), the single error handler and the CapabilityStatement
// built from what is routed. It holds no SQL.
package fhirserver
