package fhirpath

import (
	"fmt"
	"strings"
)

type tokenKind int

const (
	tEOF tokenKind = iota
	tIdent
	tString
	tNumber
	tOp // . , ( ) [ ] | = != ~ !~ < > <= >= + - & * /
	tVar
	tDate // @2020-01-01, @2020-01-01T10:00:00Z, @T10:00; text without the @
)

type token struct {
	kind tokenKind
	text string
	pos  int
}

// lex splits src into tokens; identifiers include keywords (and, or, is,
// as, true, false), which the parser tells apart by position.
func lex(src string) ([]token, error) {
	var out []token
	for i := 0; i < len(src); {
		c := src[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '/' && i+1 < len(src) && src[i+1] == '/':
			for i < len(src) && src[i] != '\n' {
				i++
			}
		case c == '/' && i+1 < len(src) && src[i+1] == '*':
			j := strings.Index(src[i+2:], "*/")
			if j < 0 {
				return nil, fmt.Errorf("unterminated comment at %d", i)
			}
			i += j + 4
		case c == '@':
			j := i + 1
			for j < len(src) && isDatePart(src, j) {
				j++
			}
			if j == i+1 {
				return nil, fmt.Errorf("expected a date or time after @ at %d", i)
			}
			out = append(out, token{tDate, src[i+1 : j], i})
			i = j
		case isIdentStart(c):
			j := i + 1
			for j < len(src) && isIdentPart(src[j]) {
				j++
			}
			out = append(out, token{tIdent, src[i:j], i})
			i = j
		case c == '`':
			j := strings.IndexByte(src[i+1:], '`')
			if j < 0 {
				return nil, fmt.Errorf("unterminated `identifier` at %d", i)
			}
			if j == 0 {
				return nil, fmt.Errorf("empty `identifier` at %d", i)
			}
			out = append(out, token{tIdent, src[i+1 : i+1+j], i})
			i += j + 2
		case c == '\'':
			s, n, err := lexString(src[i:])
			if err != nil {
				return nil, fmt.Errorf("%v at %d", err, i)
			}
			out = append(out, token{tString, s, i})
			i += n
		case c >= '0' && c <= '9':
			j := i + 1
			for j < len(src) && (src[j] >= '0' && src[j] <= '9' || src[j] == '.' && j+1 < len(src) && src[j+1] >= '0' && src[j+1] <= '9') {
				j++
			}
			out = append(out, token{tNumber, src[i:j], i})
			i = j
		case c == '%' || c == '$':
			j := i + 1
			for j < len(src) && isIdentPart(src[j]) {
				j++
			}
			out = append(out, token{tVar, src[i:j], i})
			i = j
		default:
			if op := matchOp(src[i:]); op != "" {
				out = append(out, token{tOp, op, i})
				i += len(op)
				continue
			}
			return nil, fmt.Errorf("unexpected %q at %d", c, i)
		}
	}
	return append(out, token{tEOF, "", len(src)}), nil
}

func matchOp(s string) string {
	for _, op := range []string{"!=", "!~", "<=", ">=", ".", ",", "(", ")", "[", "]", "{", "}", "|", "=", "~", "<", ">", "+", "-", "&", "*", "/"} {
		if strings.HasPrefix(s, op) {
			return op
		}
	}
	return ""
}

// isDatePart says whether src[j] continues a date/time literal: digits,
// the separators, T, Z and a timezone sign; a dot only before a digit (the
// fraction of a second), so that @2020-01-01.toString() still works.
func isDatePart(src string, j int) bool {
	switch c := src[j]; {
	case c >= '0' && c <= '9', c == '-', c == ':', c == 'T', c == 'Z', c == '+':
		return true
	case c == '.':
		return j+1 < len(src) && src[j+1] >= '0' && src[j+1] <= '9'
	}
	return false
}

func isIdentStart(c byte) bool { return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isIdentPart(c byte) bool  { return isIdentStart(c) || c >= '0' && c <= '9' }

// lexString reads a quoted string with FHIRPath escapes; n is its length
// in src including the quotes.
func lexString(src string) (s string, n int, err error) {
	var b strings.Builder
	for i := 1; i < len(src); i++ {
		switch c := src[i]; c {
		case '\'':
			return b.String(), i + 1, nil
		case '\\':
			if i+1 >= len(src) {
				return "", 0, fmt.Errorf("unterminated string")
			}
			i++
			switch e := src[i]; e {
			case 't':
				b.WriteByte('\t')
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case 'f':
				b.WriteByte('\f')
			default: // \' \" \` \\ \/
				b.WriteByte(e)
			}
		default:
			b.WriteByte(c)
		}
	}
	return "", 0, fmt.Errorf("unterminated string")
}
