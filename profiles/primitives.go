package profiles

import (
	"strconv"
	"strings"
	"time"
)

// fastChecks are hand-written equivalents of the specification's patterns
// for the commonest and largest primitives: the same answers
// (primitives_test.go holds them to the patterns) without a regular
// expression's machinery, which cost a fifth of validation and most of a
// Binary's.
var fastChecks = map[string]func(string) bool{
	// [ \r\n\t\S]+ : anything but a form feed (RE2's \s is [\t\n\f\r ]).
	"string":   func(s string) bool { return s != "" && !strings.ContainsRune(s, '\f') },
	"markdown": func(s string) bool { return s != "" && !strings.ContainsRune(s, '\f') },
	// \S*
	"uri":       noSpace,
	"url":       noSpace,
	"canonical": noSpace,
	"code":      isCode,
	"id":        isID,
	// (\s*([0-9a-zA-Z\+/=]){4}\s*)+
	"base64Binary": isBase64,
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' }

func noSpace(s string) bool {
	for i := 0; i < len(s); i++ {
		if isSpace(s[i]) {
			return false
		}
	}
	return true
}

// isCode is [^\s]+(\s[^\s]+)*: words separated by single whitespace.
func isCode(s string) bool {
	if s == "" || isSpace(s[0]) || isSpace(s[len(s)-1]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if isSpace(s[i]) && isSpace(s[i-1]) {
			return false
		}
	}
	return true
}

// isID is [A-Za-z0-9\-\.]{1,64}.
func isID(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// isBase64 is one or more groups of four base64 characters, whitespace
// allowed only between groups.
func isBase64(s string) bool {
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '+', c == '/', c == '=':
			n++
		case isSpace(c) && n%4 == 0:
		default:
			return false
		}
	}
	return n > 0 && n%4 == 0
}

// rangeChecks refuse what a type's pattern lets through but no database
// can hold or search: a date the calendar lacks, a decimal beyond a
// double's range. Such a value would be stored and then never found, or
// fail the write deep in storage.
var rangeChecks = map[string]func(string) bool{
	"decimal":  decimalInRange,
	"date":     dayExists,
	"dateTime": dayExists,
	"instant":  dayExists,
}

// maxDecimalDigits bounds a decimal's digits: more than PostgreSQL's
// numeric holds after an exponent shifts them, far more than any
// measurement has.
const maxDecimalDigits = 1000

// decimalInRange takes a JSON number (the decoder checked its grammar): no
// more than maxDecimalDigits digits, and zero or a magnitude a double
// holds without overflow or underflow to zero.
func decimalInRange(s string) bool {
	mantissa, _, _ := strings.Cut(strings.ToLower(s), "e")
	if len(mantissa) > maxDecimalDigits+2 { // sign and point
		return false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return false
	}
	return f != 0 || strings.Trim(mantissa, "-0.") == ""
}

// dayExists takes a value its pattern matched: when it names a day
// (YYYY-MM-DD...), the day must be in its month (no 2023-02-30).
func dayExists(s string) bool {
	if len(s) < 10 {
		return true
	}
	y, errY := strconv.Atoi(s[:4])
	m, errM := strconv.Atoi(s[5:7])
	d, errD := strconv.Atoi(s[8:10])
	if errY != nil || errM != nil || errD != nil {
		return false
	}
	return d >= 1 && d <= time.Date(y, time.Month(m)+1, 0, 0, 0, 0, 0, time.UTC).Day()
}
