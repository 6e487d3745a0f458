// Package everything is Patient/$everything and Patient/[id]/$everything
// (R4 operation-patient-everything): the patient, everything in its
// compartment and what those resources point at, one page at a time from
// a snapshot.
//
// It owns the operation's declaration, its parameters (_count, _since,
// _type, start and end), its paging links and its searchset; what a page
// holds and who may see it is read through resources (EverythingPatient,
// EverythingPage: each type held to what the caller's search of it
// returns). It may import operations, resources, search, profiles,
// storage and outcome; never another operation, nor fhirserver or Echo.
package everything
