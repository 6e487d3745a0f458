// Package validate is [type]/$validate and [type]/[id]/$validate on every
// type (R4 operation-resource-validate): the checks a create, an update or
// a delete would make, and the profiles asked for, with nothing stored.
//
// It owns the operation's declaration, its input (the body, or a
// Parameters' resource, mode and profile parts, and the query) and its
// OperationOutcome; the caller's right to the write it stands for is
// access.Caller.AllowWrite's, the checks the profiles'. It may import
// operations, resources, profiles, storage and outcome; never another
// operation, nor fhirserver or Echo.
package validate
