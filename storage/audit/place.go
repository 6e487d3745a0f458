package audit

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
)

// A record's AuditEvent id is its place in the log, stripe.link.position
// (e.g. 0.1234.5): the writer gives it when it puts the record in a link,
// so that the read by id is a lookup of the link by its primary key, with
// no index of ids to keep (migration 038). The id is inside the bytes the
// link's MAC covers. Records written before keep the random ids they were
// rendered with; those never contain a dot.

// PlaceID is the AuditEvent id of the record at position of link in
// stripe.
func PlaceID(stripe int16, link int64, position int) string {
	b := make([]byte, 0, 24)
	b = strconv.AppendInt(b, int64(stripe), 10)
	b = append(b, '.')
	b = strconv.AppendInt(b, link, 10)
	b = append(b, '.')
	b = strconv.AppendInt(b, int64(position), 10)
	return string(b)
}

// parsePlace reads an id made by PlaceID; ok is false for any other id.
func parsePlace(id string) (stripe int16, link int64, position int32, ok bool) {
	parts := strings.Split(id, ".")
	if len(parts) != 3 {
		return 0, 0, 0, false
	}
	s, err1 := strconv.ParseInt(parts[0], 10, 16)
	l, err2 := strconv.ParseInt(parts[1], 10, 64)
	p, err3 := strconv.ParseInt(parts[2], 10, 32)
	if err1 != nil || err2 != nil || err3 != nil || s < 0 || l < 1 || p < 0 {
		return 0, 0, 0, false
	}
	// One spelling a place: "0.01.2" is not "0.1.2".
	if PlaceID(int16(s), l, int(p)) != id {
		return 0, 0, 0, false
	}
	return int16(s), l, int32(p), true
}

const eventPrefix = `{"resourceType":"AuditEvent"`

var errUnplaceable = errors.New(`storage: audit: an event must begin with {"resourceType":"AuditEvent"`)

// placeable says the log can give event its id: it begins as Record.JSON
// renders every event, with its resource type, then a comma or its end.
func placeable(event []byte) bool {
	rest, ok := bytes.CutPrefix(event, []byte(eventPrefix))
	return ok && len(rest) > 0 && (rest[0] == ',' || rest[0] == '}')
}

// place is batch as written at link of stripe: each event with its place
// as its id.
func place(stripe int16, link int64, batch []*record) []*record {
	out := make([]*record, len(batch))
	for i, r := range batch {
		out[i] = &record{at: r.at, event: withID(r.event, PlaceID(stripe, link, i))}
	}
	return out
}

// withID is a placeable event with id as its id: the id it was rendered
// with (right after the resource type) replaced, or put there.
func withID(event []byte, id string) []byte {
	rest := event[len(eventPrefix):]
	if old, ok := bytes.CutPrefix(rest, []byte(`,"id":"`)); ok {
		if end := stringEnd(old); end >= 0 {
			rest = old[end+1:]
		}
	}
	b := make([]byte, 0, len(event)+len(id)+8)
	b = append(b, eventPrefix+`,"id":"`...)
	b = append(b, id...)
	b = append(b, '"')
	return append(b, rest...)
}

// stringEnd is the index of the quote that ends the JSON string s begins
// inside of, -1 when none does.
func stringEnd(s []byte) int {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			return i
		}
	}
	return -1
}
