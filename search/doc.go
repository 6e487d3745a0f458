// Package search parses FHIR search parameters and turns them into storage
// queries.
package search
