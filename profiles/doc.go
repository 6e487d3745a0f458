// Package profiles owns what a resource must look like: the R4 definitions
// and those of every US Core version Inferno tests, 3.1.1 to 8.0.0
// (StructureDefinitions, value sets, code systems, read from
// data/definitions.zip when first needed; data/SOURCES.md names their
// sources; a claimed profile without a version passes in any version
// held), the JSON decoder every write goes through, and the validation
// of each resource against the base definition of its type: element
// names, cardinality, data types (choice types included), primitive
// formats and required bindings, with warnings for extensible and
// preferred bindings and for unknown elements.
package profiles
