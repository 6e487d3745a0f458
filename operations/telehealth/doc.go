// Package telehealth runs telehealth sessions: an Encounter of class
// virtual (VR) linked to its Appointment, with a session type and the
// lifecycle SCHEDULED → WAITING_ROOM → ACTIVE → COMPLETED | ABANDONED |
// NO_SHOW (every move an event, the duration computed when it closes); a
// waiting room with queue positions and estimated waits pushed to the
// patient; session consents gating the video; video providers behind one
// interface with failover; and technical quality reports kept apart from
// the clinical record.
//
// It declares one operations.Operation per operation (operations.go):
// Encounter/$telehealth, Encounter/[id]/$join, $start, $complete,
// $abandon, $no-show, $waiting-room (with its WebSocket, the one
// operation that takes over the HTTP exchange: Operation.Upgrade),
// $consent, $video-token, $video-failover and $quality. It may import
// operations, resources, storage (with storage/scheduling), outcome and
// the video providers' clients; never another operation, nor fhirserver or Echo.
package telehealth
