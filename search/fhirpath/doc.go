// Package fhirpath compiles FHIRPath expressions and evaluates them over
// resources decoded from JSON (map[string]any, []any, string, json.Number,
// bool). It covers what the R4 search parameter definitions use: paths and
// choice types, indexing, `|`, `and`, `or`, `=`, `!=`, `is`/`as`, and the
// functions where, exists, empty, not, first, last, count, ofType, as, is,
// resolve and extension. An expression using anything else fails to
// compile, so that a definition is never silently skipped.
//
// Types are known where JSON carries them: a resource's resourceType, and
// the suffix of a choice element (valueQuantity is a Quantity). resolve()
// answers the referenced type from the reference itself, which is all that
// `resolve() is Patient` needs.
package fhirpath
