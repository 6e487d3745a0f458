// Package resources implements the FHIR RESTful interactions, one file each
// (read, vread, create, update, patch, delete, history, search,
// transaction and batch), and the one write path every interaction, Bundle
// entry and operation goes through (write.go): it decodes and validates
// what clients send (profiles), asks resources/access what the caller may
// do, holds writes to the caller's patient and care relationships, runs
// the rules of the resource's type (rules.go: the registry of what is
// particular to a type, including what storage encrypts), and appends the
// versions, their index rows (search) and the request's audit record
// (audit.go: the Recorder seam) in one storage transaction. A page of a
// search or $everything is known first by its keys, which its audit
// record needs, and streamed (page.go, Result.Stream): its bodies are read
// by exact version a chunk at a time as the Bundle is written, so that no
// page is held whole.
//
// It imports resources/access, search, profiles, storage (with
// storage/audit and storage/scheduling) and outcome;
// never fhirserver, operations or Echo. Operations build on its Service
// (Transact, the exported reads and searches).
package resources
