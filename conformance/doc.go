// Package conformance is a black-box FHIR client used by tests against any
// base URL. It imports nothing internal.
package conformance
