package scheduling

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func starts(slots []SlotSpec) []string {
	var out []string
	for _, s := range slots {
		out = append(out, s.Start.Format("2006-01-02T15:04Z")+"/"+s.End.Sub(s.Start).String())
	}
	return out
}

// Windows are wall-clock times in the practitioner's zone, slots real
// intervals: the same 09:00 is 14:00Z in winter and 13:00Z in summer, the
// night clocks go forward has an hour less, the night they go back an hour
// more, and overrides take out what they touch.
func TestMaterialize(t *testing.T) {
	ny := func(rules ...Rule) Availability {
		return Availability{Practitioner: "dr1", TZ: "America/New_York", Rules: rules}
	}
	tests := []struct {
		name      string
		a         Availability
		overrides []Override
		from      string
		days      int
		want      []string
	}{
		{"winter Monday", ny(Rule{Weekday: time.Monday, Start: "09:00", End: "10:30", SlotMinutes: 30}), nil, "2026-01-05T05:00:00Z", 1,
			[]string{"2026-01-05T14:00Z/30m0s", "2026-01-05T14:30Z/30m0s", "2026-01-05T15:00Z/30m0s"}},
		{"summer Monday", ny(Rule{Weekday: time.Monday, Start: "09:00", End: "10:00", SlotMinutes: 30}), nil, "2026-07-06T04:00:00Z", 1,
			[]string{"2026-07-06T13:00Z/30m0s", "2026-07-06T13:30Z/30m0s"}},
		{"clocks go forward: 02:00-03:00 does not exist", ny(Rule{Weekday: time.Sunday, Start: "01:00", End: "04:00", SlotMinutes: 30}), nil, "2026-03-08T05:00:00Z", 1,
			[]string{"2026-03-08T06:00Z/30m0s", "2026-03-08T06:30Z/30m0s", "2026-03-08T07:00Z/30m0s", "2026-03-08T07:30Z/30m0s"}},
		{"clocks go back: 01:00-02:00 twice", ny(Rule{Weekday: time.Sunday, Start: "00:00", End: "03:00", SlotMinutes: 60}), nil, "2026-11-01T04:00:00Z", 1,
			[]string{"2026-11-01T04:00Z/1h0m0s", "2026-11-01T05:00Z/1h0m0s", "2026-11-01T06:00Z/1h0m0s", "2026-11-01T07:00Z/1h0m0s"}},
		{"a week, two weekdays", ny(Rule{Weekday: time.Tuesday, Start: "09:00", End: "09:30", SlotMinutes: 30}, Rule{Weekday: time.Thursday, Start: "15:00", End: "15:30", SlotMinutes: 30}), nil, "2026-01-05T00:00:00Z", 7,
			[]string{"2026-01-06T14:00Z/30m0s", "2026-01-08T20:00Z/30m0s"}},
		{"an override takes out what it touches", ny(Rule{Weekday: time.Monday, Start: "09:00", End: "11:00", SlotMinutes: 30}),
			[]Override{{Start: utc("2026-01-05T14:45:00Z"), End: utc("2026-01-05T15:30:00Z"), Reason: "meeting"}}, "2026-01-05T05:00:00Z", 1,
			[]string{"2026-01-05T14:00Z/30m0s", "2026-01-05T15:30Z/30m0s"}},
		{"started slots are not offered", ny(Rule{Weekday: time.Monday, Start: "09:00", End: "10:30", SlotMinutes: 30}), nil, "2026-01-05T14:10:00Z", 1,
			[]string{"2026-01-05T14:30Z/30m0s", "2026-01-05T15:00Z/30m0s"}},
		{"a window that is not a whole number of slots", ny(Rule{Weekday: time.Monday, Start: "09:00", End: "09:50", SlotMinutes: 20}), nil, "2026-01-05T05:00:00Z", 1,
			[]string{"2026-01-05T14:00Z/20m0s", "2026-01-05T14:20Z/20m0s"}},
		// 00:30-01:00 GMT, then 02:00-02:30 BST (01:00Z): 01:00-02:00 local does not exist.
		{"London goes forward on another day", Availability{TZ: "Europe/London", Rules: []Rule{{Weekday: time.Sunday, Start: "00:30", End: "02:30", SlotMinutes: 30}}}, nil, "2026-03-29T00:00:00Z", 1,
			[]string{"2026-03-29T00:30Z/30m0s", "2026-03-29T01:00Z/30m0s"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Materialize(tc.a, tc.overrides, utc(tc.from), tc.days)
			require.NoError(t, err)
			assert.Equal(t, tc.want, starts(got))
			for _, s := range got {
				assert.Equal(t, 1, s.Capacity)
			}
		})
	}
}

func TestMaterializeRefusesBadRules(t *testing.T) {
	for _, r := range []Rule{
		{Weekday: 1, Start: "10:00", End: "09:00", SlotMinutes: 30},
		{Weekday: 1, Start: "9", End: "10:00", SlotMinutes: 30},
		{Weekday: 1, Start: "09:00", End: "10:00", SlotMinutes: 0},
		{Weekday: 7, Start: "09:00", End: "10:00", SlotMinutes: 30},
		{Weekday: 1, Start: "09:00", End: "10:00", SlotMinutes: 30, MaxConcurrent: -1},
	} {
		_, err := Materialize(Availability{TZ: "UTC", Rules: []Rule{r}}, nil, time.Now(), 7)
		assert.Error(t, err, "%+v", r)
	}
	_, err := Materialize(Availability{TZ: "Mars/Olympus"}, nil, time.Now(), 7)
	assert.Error(t, err)
}
