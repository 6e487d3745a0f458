// Package docref is DocumentReference/$docref (US Core 6.1.0, a SHALL for
// servers): a patient's document references, answered as the
// DocumentReference search that finds them, so that scopes, a patient's
// reach and audit are a search's. The server makes no documents: it
// returns those it holds.
//
// It declares the operation (Operation, with US Core's definition as
// published) and turns its parameters into that search (Query, Params).
// It may import operations, resources, search, storage and outcome; never
// another operation, nor fhirserver or Echo.
package docref
