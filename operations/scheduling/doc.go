// Package scheduling turns providers' availability into Schedule and Slot
// resources and books them. The database keeps a slot from holding more
// bookings than its capacity (storage: migration 022); this package
// decides which slots exist.
//
// It declares one operations.Operation per operation (operations.go):
// Practitioner/[id]/$availability and $block, Appointment/$find, $book,
// $waitlist and $events; the domain (availability to slots, the
// waitlist, no-shows) runs them. It may import operations, resources,
// search, storage (with storage/scheduling) and outcome; never another operation, nor fhirserver or
// Echo.
package scheduling
