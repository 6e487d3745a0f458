package search

import (
	"fmt"
	"regexp"
	"strconv"
	"time"

	"github.com/fhirserver/fhirserver/storage"
)

// Open ends of a Period stand for the earliest and latest representable
// instants, so that range comparisons need no special case.
var (
	minTime = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)
	maxTime = time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)
)

var dateRE = regexp.MustCompile(`^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$`)

// DateRange is the range [lo, hi) a FHIR date, dateTime or instant covers
// at its precision: "2020" is the whole year, "2020-03-01T10:00:00Z" one
// second. A value without a time zone is taken as UTC.
func DateRange(s string) (lo, hi time.Time, err error) {
	m := dateRE.FindStringSubmatch(s)
	if m == nil {
		return lo, hi, fmt.Errorf("%q is not a FHIR date, dateTime or instant", s)
	}
	n := func(i int) int { v, _ := strconv.Atoi(m[i]); return v }
	loc := time.UTC
	if tz := m[8]; tz != "" && tz != "Z" {
		sign := 1
		if tz[0] == '-' {
			sign = -1
		}
		h, _ := strconv.Atoi(tz[1:3])
		mi, _ := strconv.Atoi(tz[4:6])
		loc = time.FixedZone(tz, sign*(h*3600+mi*60))
	}
	year, month, day := n(1), 1, 1
	if m[2] != "" {
		month = n(2)
	}
	if m[3] != "" {
		day = n(3)
	}
	frac := 0
	if m[7] != "" {
		f := m[7] + "000000000"[len(m[7]):]
		frac, _ = strconv.Atoi(f)
	}
	lo = time.Date(year, time.Month(month), day, n(4), n(5), n(6), frac, loc)
	if lo.Year() != year || int(lo.Month()) != month || lo.Day() != day || n(4) > 23 || n(5) > 59 || n(6) > 59 {
		return time.Time{}, time.Time{}, fmt.Errorf("%q is not a valid date", s)
	}
	switch {
	case m[2] == "":
		hi = lo.AddDate(1, 0, 0)
	case m[3] == "":
		hi = lo.AddDate(0, 1, 0)
	case m[4] == "":
		hi = lo.AddDate(0, 0, 1)
	case m[6] == "":
		hi = lo.Add(time.Minute)
	case m[7] == "":
		hi = lo.Add(time.Second)
	default:
		step := time.Duration(1)
		for range 9 - len(m[7]) {
			step *= 10
		}
		hi = lo.Add(step)
	}
	return lo.UTC(), hi.UTC(), nil
}

// periodRange covers a Period from the start of its start to the end of
// its end; a missing end is open (ongoing).
func periodRange(p map[string]any) (storage.DateEntry, bool) {
	e := storage.DateEntry{Lo: minTime, Hi: maxTime}
	start, hasStart := p["start"].(string)
	end, hasEnd := p["end"].(string)
	if !hasStart && !hasEnd {
		return e, false
	}
	if hasStart {
		lo, _, err := DateRange(start)
		if err != nil {
			return e, false
		}
		e.Lo = lo
	}
	if hasEnd {
		_, hi, err := DateRange(end)
		if err != nil {
			return e, false
		}
		e.Hi = hi
	}
	return e, true
}
