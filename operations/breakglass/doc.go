// Package breakglass is Patient/[id]/$break-glass: a clinician's emergency
// access to a patient outside their care relationships (no other role, no
// token held to a patient in context; access.Caller.MayBreakGlass). The event is
// recorded before access is granted; access is granted at once, to that
// patient only, for a limited time; a compliance review Task goes to the
// privacy officer.
//
// It declares the operation (Operation) and runs it (Op). It may import
// operations (the Operation it declares), resources, search, profiles,
// storage and outcome; never another operation, nor fhirserver or Echo.
package breakglass
