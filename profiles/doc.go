// Package profiles owns what a resource must look like: the R4 and US Core
// 6.1.0 definitions (StructureDefinitions, value sets, code systems, read
// from data/definitions.zip when first needed; data/SOURCES.md names their
// sources), the JSON decoder every write goes through, and the validation
// of each resource against the base definition of its type: element
// names, cardinality, data types (choice types included), primitive
// formats and required bindings, with warnings for extensible and
// preferred bindings and for unknown elements.
package profiles
