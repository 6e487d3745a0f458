// Package scheduling keeps the state of scheduling and telehealth beside
// the resources: the units of each Slot's capacity with their bookings and
// releases, appointments' status changes, practitioners' availability
// patterns and time off, no-show policies and the no-shows acted on, the
// waitlist and its events, and the telehealth sessions' moves, rooms,
// video tokens and their uses, and quality reports.
//
// What must commit with a write (a booking with its Appointment, a
// session's move with its Encounter) is written through Tx, the
// scheduling state of a storage.Tx (In); what stands on its own (policies,
// tokens, rooms, the reads of $events and the waiting room) through Store
// (New). The database itself refuses a second live booking of a unit, so
// a booking is exact whatever a caller checked first.
//
// It imports storage (the pool, a write transaction's own statements and
// savepoints, the admin audit, storage.Unrestricted and the sentinels)
// and pgx, and nothing else of the server; the rules that decide what is
// booked, moved or scored live above it (resources/appointment.go,
// operations/scheduling, operations/telehealth). Its tables are created by
// the migrations in storage/migrations.
package scheduling
