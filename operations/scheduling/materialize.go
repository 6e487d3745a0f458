package scheduling

import (
	"fmt"
	"slices"
	"time"
	_ "time/tzdata" // zones on a machine without the system's database
)

// Rule is one weekly window of a practitioner's availability, in the
// practitioner's time zone.
type Rule struct {
	Weekday       time.Weekday `json:"weekday"` // 0 Sunday … 6 Saturday
	Start         string       `json:"start"`   // "09:00", wall-clock time
	End           string       `json:"end"`
	SlotMinutes   int          `json:"slotMinutes"`
	VisitTypes    []string     `json:"visitTypes,omitempty"`
	MaxConcurrent int          `json:"maxConcurrent,omitempty"` // 1 when 0
}

// Availability is a practitioner's weekly pattern.
type Availability struct {
	Practitioner string
	TZ           string // IANA, such as America/New_York
	Rules        []Rule
}

// Override blocks time off (a holiday, a one-off block).
type Override struct {
	Start, End time.Time
	Reason     string
}

// SlotSpec is one slot to exist: a real interval of time (UTC), the visit
// types it takes and how many appointments may share it.
type SlotSpec struct {
	Start, End time.Time
	VisitTypes []string
	Capacity   int
}

// Materialize lists the slots of days calendar days from the one holding
// from (in the practitioner's zone), in order of start, leaving out those
// an override touches and those that have started by from.
//
// A window runs from its start to its end as real time, in slots of the
// rule's length: on the night clocks go forward a 01:00–04:00 window is two
// hours long (four 30-minute slots, 02:00–03:00 does not exist), on the
// night they go back a 00:00–03:00 window is four (the hour from 01:00 is
// lived twice, each time its own slots). A window boundary that falls in
// the missing hour is read as Go's time.Date does, in the zone after the
// change.
func Materialize(a Availability, overrides []Override, from time.Time, days int) ([]SlotSpec, error) {
	if err := a.Validate(); err != nil {
		return nil, err
	}
	loc, _ := time.LoadLocation(a.TZ)
	var out []SlotSpec
	day := from.In(loc)
	y, m, d := day.Date()
	for i := range days {
		date := time.Date(y, m, d+i, 12, 0, 0, 0, loc) // noon: never in a transition
		for _, r := range a.Rules {
			if r.Weekday != date.Weekday() {
				continue
			}
			start, end := wallClock(date, r.Start, loc), wallClock(date, r.End, loc)
			step := time.Duration(r.SlotMinutes) * time.Minute
			for t := start; !t.Add(step).After(end); t = t.Add(step) {
				s := SlotSpec{Start: t.UTC(), End: t.Add(step).UTC(), VisitTypes: r.VisitTypes, Capacity: max(1, r.MaxConcurrent)}
				if !s.Start.Before(from) && !blocked(s, overrides) {
					out = append(out, s)
				}
			}
		}
	}
	slices.SortFunc(out, func(a, b SlotSpec) int { return a.Start.Compare(b.Start) })
	return out, nil
}

// Validate checks the zone and the rules.
func (a Availability) Validate() error {
	if _, err := time.LoadLocation(a.TZ); err != nil {
		return fmt.Errorf("scheduling: time zone %q: %w", a.TZ, err)
	}
	return validRules(a.Rules)
}

// wallClock is the instant of "hh:mm" on date's day in loc.
func wallClock(date time.Time, hhmm string, loc *time.Location) time.Time {
	var h, min int
	fmt.Sscanf(hhmm, "%d:%d", &h, &min)
	y, m, d := date.Date()
	return time.Date(y, m, d, h, min, 0, 0, loc)
}

func blocked(s SlotSpec, overrides []Override) bool {
	for _, o := range overrides {
		if s.Start.Before(o.End) && o.Start.Before(s.End) {
			return true
		}
	}
	return false
}

func validRules(rules []Rule) error {
	for i, r := range rules {
		var h1, m1, h2, m2 int
		_, err1 := fmt.Sscanf(r.Start, "%d:%d", &h1, &m1)
		_, err2 := fmt.Sscanf(r.End, "%d:%d", &h2, &m2)
		switch {
		case err1 != nil || err2 != nil || h1 > 23 || h2 > 24 || m1 > 59 || m2 > 59 || h1 < 0 || h2 < 0 || m1 < 0 || m2 < 0:
			return fmt.Errorf("scheduling: rule %d: start and end are hh:mm", i)
		case h1*60+m1 >= h2*60+m2:
			return fmt.Errorf("scheduling: rule %d: it ends before it starts", i)
		case r.SlotMinutes < 5 || r.SlotMinutes > 24*60:
			return fmt.Errorf("scheduling: rule %d: slotMinutes must be between 5 and 1440", i)
		case r.Weekday < time.Sunday || r.Weekday > time.Saturday:
			return fmt.Errorf("scheduling: rule %d: weekday is 0 (Sunday) to 6", i)
		case r.MaxConcurrent < 0:
			return fmt.Errorf("scheduling: rule %d: maxConcurrent must not be negative", i)
		}
	}
	return nil
}
