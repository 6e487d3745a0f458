package profiles

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// decodeJSON parses one JSON document into the generic form encoding/json
// gives with UseNumber: map[string]any, []any, string, json.Number, bool and
// nil; unlike encoding/json, it refuses an object that repeats a key. It exists because encoding/json's byte-at-a-time scanner was the
// largest single cost of ingest; decode_test.go holds it to the same
// results and the same verdicts on validity, by table and by fuzzing.
func decodeJSON(data []byte) (any, error) {
	v, _, err := decodeText(data)
	return v, err
}

// decodeText is decodeJSON that also tells whether a string or a key held
// U+0000 (only the escape \u0000 can write it): valid JSON, but no FHIR
// string, and PostgreSQL's jsonb refuses it.
func decodeText(data []byte) (v any, nul bool, err error) {
	d := &decoder{data: data}
	d.space()
	v, err = d.value()
	if err != nil {
		return nil, false, err
	}
	d.space()
	if d.pos < len(d.data) {
		return nil, false, errTrailing
	}
	return v, d.nul, nil
}

// maxDepth matches encoding/json's nesting limit.
const maxDepth = 10000

var errTrailing = fmt.Errorf("the body holds more than one JSON value")

// syntaxError is invalid JSON at a byte offset.
type syntaxError struct {
	msg    string
	offset int
}

func (e *syntaxError) Error() string { return fmt.Sprintf("%s at byte %d", e.msg, e.offset) }

type decoder struct {
	data  []byte
	pos   int
	depth int
	nul   bool // a \u0000 was decoded
	keys  map[string]string
	short map[string]any // short string values met, each boxed once
}

// maxShared is the longest string value shared by every place it occurs:
// codes, systems, units, statuses, dates. Longer ones (ids, references,
// narrative) are mostly unique.
const maxShared = 40

// stringValue reads a string value as an interface value. A short one is
// made and boxed once a body: a bundle repeats its codes, systems and
// units thousands of times, and each was two allocations.
func (d *decoder) stringValue() (any, error) {
	end := d.pos + 1
	for end < len(d.data) && end-d.pos <= maxShared+1 && d.data[end] != '"' && d.data[end] != '\\' && d.data[end] >= 0x20 && d.data[end] < utf8.RuneSelf {
		end++
	}
	if end >= len(d.data) || d.data[end] != '"' {
		return d.string() // long, or escapes, control or non-ASCII bytes
	}
	raw := d.data[d.pos+1 : end]
	if v, ok := d.short[string(raw)]; ok {
		d.pos = end + 1
		return v, nil
	}
	s, err := d.string()
	if err != nil {
		return nil, err
	}
	if d.short == nil {
		d.short = map[string]any{}
	}
	var v any = s
	d.short[s] = v
	return v, nil
}

// key reads an object's member name. A body repeats a few dozen names
// thousands of times (a bundle of 700 resources): each is made once.
func (d *decoder) key() (string, error) {
	end := d.pos + 1
	for end < len(d.data) && d.data[end] != '"' && d.data[end] != '\\' && d.data[end] >= 0x20 && d.data[end] < utf8.RuneSelf {
		end++
	}
	if end >= len(d.data) || d.data[end] != '"' {
		return d.string() // escapes, control or non-ASCII bytes: read in full
	}
	raw := d.data[d.pos+1 : end]
	if k, ok := d.keys[string(raw)]; ok {
		d.pos = end + 1
		return k, nil
	}
	k, err := d.string()
	if err == nil {
		if d.keys == nil {
			d.keys = map[string]string{}
		}
		d.keys[k] = k
	}
	return k, err
}

func (d *decoder) fail(msg string) error { return &syntaxError{msg: msg, offset: d.pos} }

func (d *decoder) unexpected(what string) error {
	if d.pos >= len(d.data) {
		return d.fail("unexpected end of JSON input")
	}
	return d.fail("invalid character " + strconv.QuoteRune(rune(d.data[d.pos])) + " " + what)
}

func (d *decoder) space() {
	for d.pos < len(d.data) {
		switch d.data[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

func (d *decoder) value() (any, error) {
	if d.pos >= len(d.data) {
		return nil, d.unexpected("")
	}
	switch c := d.data[d.pos]; {
	case c == '{':
		return d.object()
	case c == '[':
		return d.array()
	case c == '"':
		return d.stringValue()
	case c == '-' || c >= '0' && c <= '9':
		return d.number()
	case c == 't':
		return true, d.literal("true")
	case c == 'f':
		return false, d.literal("false")
	case c == 'n':
		return nil, d.literal("null")
	}
	return nil, d.unexpected("looking for beginning of value")
}

func (d *decoder) literal(word string) error {
	if len(d.data)-d.pos >= len(word) && string(d.data[d.pos:d.pos+len(word)]) == word {
		d.pos += len(word)
		return nil
	}
	for i := 0; i < len(word); i++ {
		if d.pos >= len(d.data) || d.data[d.pos] != word[i] {
			return d.unexpected("in literal " + word)
		}
		d.pos++
	}
	return nil
}

func (d *decoder) enter() error {
	d.depth++
	if d.depth > maxDepth {
		return d.fail("exceeded max depth")
	}
	return nil
}

func (d *decoder) object() (any, error) {
	if err := d.enter(); err != nil {
		return nil, err
	}
	d.pos++ // {
	m := map[string]any{}
	d.space()
	if d.pos < len(d.data) && d.data[d.pos] == '}' {
		d.pos++
		d.depth--
		return m, nil
	}
	for {
		if d.pos >= len(d.data) || d.data[d.pos] != '"' {
			return nil, d.unexpected("looking for beginning of object key string")
		}
		key, err := d.key()
		if err != nil {
			return nil, err
		}
		d.space()
		if d.pos >= len(d.data) || d.data[d.pos] != ':' {
			return nil, d.unexpected("after object key")
		}
		d.pos++
		d.space()
		v, err := d.value()
		if err != nil {
			return nil, err
		}
		// A repeated key would silently drop a value the client sent;
		// comparing lengths costs nothing beside the insert itself.
		n := len(m)
		if m[key] = v; len(m) == n {
			return nil, &syntaxError{msg: "duplicate key " + strconv.Quote(clip(key)), offset: d.pos}
		}
		d.space()
		if d.pos < len(d.data) && d.data[d.pos] == ',' {
			d.pos++
			d.space()
			continue
		}
		if d.pos < len(d.data) && d.data[d.pos] == '}' {
			d.pos++
			d.depth--
			return m, nil
		}
		return nil, d.unexpected("after object key:value pair")
	}
}

func (d *decoder) array() (any, error) {
	if err := d.enter(); err != nil {
		return nil, err
	}
	d.pos++ // [
	a := []any{}
	d.space()
	if d.pos < len(d.data) && d.data[d.pos] == ']' {
		d.pos++
		d.depth--
		return a, nil
	}
	for {
		v, err := d.value()
		if err != nil {
			return nil, err
		}
		a = append(a, v)
		d.space()
		if d.pos < len(d.data) && d.data[d.pos] == ',' {
			d.pos++
			d.space()
			continue
		}
		if d.pos < len(d.data) && d.data[d.pos] == ']' {
			d.pos++
			d.depth--
			return a, nil
		}
		return nil, d.unexpected("after array element")
	}
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func (d *decoder) digits() int {
	n := 0
	for d.pos < len(d.data) && isDigit(d.data[d.pos]) {
		d.pos++
		n++
	}
	return n
}

// number checks the JSON number grammar and keeps the literal as written.
func (d *decoder) number() (any, error) {
	start := d.pos
	if d.data[d.pos] == '-' {
		d.pos++
	}
	switch {
	case d.pos < len(d.data) && d.data[d.pos] == '0':
		d.pos++
	case d.pos < len(d.data) && isDigit(d.data[d.pos]):
		d.digits()
	default:
		return nil, d.unexpected("in numeric literal")
	}
	if d.pos < len(d.data) && d.data[d.pos] == '.' {
		d.pos++
		if d.digits() == 0 {
			return nil, d.unexpected("after decimal point in numeric literal")
		}
	}
	if d.pos < len(d.data) && (d.data[d.pos] == 'e' || d.data[d.pos] == 'E') {
		d.pos++
		if d.pos < len(d.data) && (d.data[d.pos] == '+' || d.data[d.pos] == '-') {
			d.pos++
		}
		if d.digits() == 0 {
			return nil, d.unexpected("in exponent of numeric literal")
		}
	}
	return json.Number(d.data[start:d.pos]), nil
}

// string reads a quoted string. The common case, no escapes and valid
// UTF-8, is one scan and one copy.
func (d *decoder) string() (string, error) {
	d.pos++ // opening quote
	start := d.pos
	ascii := true
	for d.pos < len(d.data) {
		c := d.data[d.pos]
		switch {
		case c == '"':
			s := d.data[start:d.pos]
			if ascii || utf8.Valid(s) {
				d.pos++
				return string(s), nil
			}
			return d.escapedString(start) // replaces invalid bytes one by one
		case c == '\\':
			return d.escapedString(start)
		case c < 0x20:
			return "", d.unexpected("in string literal")
		case c >= utf8.RuneSelf:
			ascii = false
		}
		d.pos++
	}
	return "", d.unexpected("")
}

// escapedString finishes a string with escapes, decoding them as
// encoding/json does: invalid UTF-8 and lone surrogates become U+FFFD.
func (d *decoder) escapedString(start int) (string, error) {
	var b strings.Builder
	b.Grow(d.pos - start + 16)
	d.pos = start
	for d.pos < len(d.data) {
		c := d.data[d.pos]
		switch {
		case c == '"':
			d.pos++
			return b.String(), nil
		case c < 0x20:
			return "", d.unexpected("in string literal")
		case c == '\\':
			if err := d.escape(&b); err != nil {
				return "", err
			}
		case c < utf8.RuneSelf:
			b.WriteByte(c)
			d.pos++
		default:
			r, size := utf8.DecodeRune(d.data[d.pos:])
			b.WriteRune(r) // RuneError for invalid bytes, as encoding/json
			d.pos += size
		}
	}
	return "", d.unexpected("")
}

func (d *decoder) escape(b *strings.Builder) error {
	d.pos++ // backslash
	if d.pos >= len(d.data) {
		return d.unexpected("")
	}
	c := d.data[d.pos]
	d.pos++
	switch c {
	case '"', '\\', '/':
		b.WriteByte(c)
	case 'b':
		b.WriteByte('\b')
	case 'f':
		b.WriteByte('\f')
	case 'n':
		b.WriteByte('\n')
	case 'r':
		b.WriteByte('\r')
	case 't':
		b.WriteByte('\t')
	case 'u':
		r, err := d.hex4()
		if err != nil {
			return err
		}
		if utf16.IsSurrogate(r) {
			if r2, ok := d.peekU4(); ok {
				if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
					d.pos += 6
					b.WriteRune(dec)
					return nil
				}
			}
			r = utf8.RuneError
		}
		d.nul = d.nul || r == 0
		b.WriteRune(r)
	default:
		d.pos--
		return d.unexpected("in string escape code")
	}
	return nil
}

func (d *decoder) hex4() (rune, error) {
	var r rune
	for i := 0; i < 4; i++ {
		if d.pos >= len(d.data) {
			return 0, d.unexpected("")
		}
		h, ok := hexValue(d.data[d.pos])
		if !ok {
			return 0, d.unexpected("in \\u hexadecimal character escape")
		}
		r = r<<4 | h
		d.pos++
	}
	return r, nil
}

// peekU4 reads a following \uXXXX without consuming it.
func (d *decoder) peekU4() (rune, bool) {
	if len(d.data)-d.pos < 6 || d.data[d.pos] != '\\' || d.data[d.pos+1] != 'u' {
		return 0, false
	}
	var r rune
	for _, c := range d.data[d.pos+2 : d.pos+6] {
		h, ok := hexValue(c)
		if !ok {
			return 0, false
		}
		r = r<<4 | h
	}
	return r, true
}

func hexValue(c byte) (rune, bool) {
	switch {
	case c >= '0' && c <= '9':
		return rune(c - '0'), true
	case c >= 'a' && c <= 'f':
		return rune(c-'a') + 10, true
	case c >= 'A' && c <= 'F':
		return rune(c-'A') + 10, true
	}
	return 0, false
}
