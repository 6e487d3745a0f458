// Package search owns the FHIR search parameters (R4 and every US Core
// version's): their definitions, the extraction of a resource's index rows
// (search_string, search_token, …), and the parsing of a search (or a
// narrowed scope's query) into storage conditions: parameters, modifiers,
// prefixes, chains, _has, includes, sorting and paging, under the limits
// that bound a request's cost (limits.go). search/fhirpath is the
// FHIRPath engine the parameters and the profiles' invariants use.
//
// It imports profiles, storage and outcome; never resources or anything
// above.
package search
