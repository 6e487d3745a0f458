// Package conformance holds what checks a FHIR server from the outside, over
// HTTP only, importing nothing internal: the real-data fixtures tests load
// (conformance/fixtures) and the SMART App Launch checks
// (conformance/smartcheck), which run against any server URL.
package conformance
