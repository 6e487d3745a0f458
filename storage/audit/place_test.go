package audit

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestPlaceIDReadsBack(t *testing.T) {
	for _, c := range []struct {
		stripe   int16
		link     int64
		position int
	}{{0, 1, 0}, {3, 9_000_000_000, 511}, {1023, 42, 7}} {
		id := PlaceID(c.stripe, c.link, c.position)
		s, l, p, ok := parsePlace(id)
		assert.True(t, ok, id)
		assert.Equal(t, c.stripe, s)
		assert.Equal(t, c.link, l)
		assert.EqualValues(t, c.position, p)
	}
	for _, id := range []string{"", "0.1", "0.1.2.3", "0.01.2", "-1.1.0", "0.0.0", "0.1.-1", "a.1.0", "00000000-0000-4000-8000-000000000001", "0.1.2 "} {
		_, _, _, ok := parsePlace(id)
		assert.False(t, ok, id)
	}
}

func TestWithID(t *testing.T) {
	for event, want := range map[string]string{
		`{"resourceType":"AuditEvent","id":"00000000-0000-4000-8000-000000000001","type":{}}`: `{"resourceType":"AuditEvent","id":"0.7.2","type":{}}`,
		`{"resourceType":"AuditEvent","id":"a\"b","x":1}`:                                     `{"resourceType":"AuditEvent","id":"0.7.2","x":1}`,
		`{"resourceType":"AuditEvent","action":"R"}`:                                          `{"resourceType":"AuditEvent","id":"0.7.2","action":"R"}`,
		`{"resourceType":"AuditEvent"}`:                                                       `{"resourceType":"AuditEvent","id":"0.7.2"}`,
	} {
		assert.True(t, placeable([]byte(event)), event)
		got := withID([]byte(event), "0.7.2")
		assert.Equal(t, want, string(got))
		assert.Equal(t, "0.7.2", eventID(got))
	}
	for _, event := range []string{`{"id":"x","resourceType":"AuditEvent"}`, `{"resourceType":"AuditEventX"}`, `{"resourceType":"AuditEvent" }`, ``} {
		assert.False(t, placeable([]byte(event)), event)
	}
}
