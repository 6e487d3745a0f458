package resources

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"unicode/utf8"
)

// encode writes a decoded JSON tree (maps, slices, strings, json.Number,
// bools, nil) exactly as encoding/json with SetEscapeHTML(false) would:
// keys sorted, the same string escapes. It exists because the reflection
// in encoding/json was a seventh of the ingest profile; encode_test.go
// holds it to byte equality with encoding/json over every fixture.
func encode(v any) ([]byte, error) {
	scratch := encodeScratch.Get().(*[]byte)
	b, err := appendValue((*scratch)[:0], v)
	if err != nil {
		encodeScratch.Put(scratch)
		return nil, err
	}
	out := make([]byte, len(b))
	copy(out, b)
	if cap(b) <= maxEncodeScratch {
		*scratch = b[:0]
	}
	encodeScratch.Put(scratch)
	return out, nil
}

// encodeScratch holds the buffers encode grows its output in, then copies
// out at its exact size: grown in place from a guess, a resource's
// encoding left two or three discarded buffers behind it.
var encodeScratch = sync.Pool{New: func() any { b := make([]byte, 0, 16<<10); return &b }}

const maxEncodeScratch = 1 << 20

func appendValue(b []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case string:
		return appendString(b, x), nil
	case json.Number:
		if !json.Valid([]byte(x)) {
			return nil, fmt.Errorf("invalid number literal %q", string(x))
		}
		return append(b, x...), nil
	case bool:
		return strconv.AppendBool(b, x), nil
	case map[string]any:
		return appendObject(b, x)
	case []any:
		b = append(b, '[')
		for i, e := range x {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = appendValue(b, e); err != nil {
				return nil, err
			}
		}
		return append(b, ']'), nil
	default:
		// Anything else (float64 from code that built a value by hand, a
		// json.RawMessage) goes through encoding/json.
		raw, err := json.Marshal(x)
		if err != nil {
			return nil, err
		}
		return append(b, raw...), nil
	}
}

func appendObject(b []byte, m map[string]any) ([]byte, error) {
	var small [16]string // most FHIR objects have fewer members: no allocation
	keys := small[:0]
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, k)
		b = append(b, ':')
		var err error
		if b, err = appendValue(b, m[k]); err != nil {
			return nil, err
		}
	}
	return append(b, '}'), nil
}

const hexDigits = "0123456789abcdef"

// plain marks the ASCII bytes a JSON string carries unescaped.
var plain = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// appendString quotes s as encoding/json does without HTML escaping.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if plain[c] {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
