package resources

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"sync"
)

// idRun is how many ids share a prefix before a new one is drawn.
const idRun = 1 << 16

// ids hands out the ids of new resources. Each is a version 8 UUID
// (RFC 9562's custom layout): 32 bits a run of idRun ids shares, drawn at
// random when the run starts; 16 bits counting within the run; 74 random
// bits. Why not version 4: every index of a resource's rows holds its id,
// most of them leading with it (the version table's key, each search
// table's probe index) or with the patient's, and a random id lands each
// insert on a random leaf page of indexes far larger than memory at a
// million resources, so that PostgreSQL reads and logs a whole page for
// every entry. Ids of one run sort in the order they were made, so a
// run's entries fill a few adjacent pages, and a patient's resources sit
// together on the pages its searches then read. The prefix carries no
// clock and no counter across runs: an id says nothing of when it was
// made, only, to someone holding another of the same run, which was
// first. 74 random bits keep every id unguessable from another.
var ids idSource

type idSource struct {
	mu     sync.Mutex
	prefix uint32
	left   uint32 // ids left in this run
}

func newID() string { return ids.id() }

func (s *idSource) id() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	prefix, seq := s.next(b[:4])
	binary.BigEndian.PutUint32(b[0:4], prefix)
	binary.BigEndian.PutUint16(b[4:6], uint16(seq))
	b[6] = b[6]&0x0f | 0x80 // version 8
	b[8] = b[8]&0x3f | 0x80 // RFC 9562 variant
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// next is the run's prefix and this id's place in it; fresh, random
// bytes, becomes the prefix when a run starts.
func (s *idSource) next(fresh []byte) (prefix, seq uint32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.left == 0 {
		s.prefix, s.left = binary.BigEndian.Uint32(fresh), idRun
	}
	s.left--
	return s.prefix, idRun - 1 - s.left
}
