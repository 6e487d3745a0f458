package profiles

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirserver/fhirserver/conformance/fixtures"
)

// reference is what decodeJSON must agree with: encoding/json's verdict on
// validity, stricter by refusing repeated keys, and its generic decoding
// with UseNumber.
func reference(data []byte) (any, bool) {
	if !json.Valid(data) || repeatsKey(data) {
		return nil, false
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if dec.Decode(&v) != nil {
		return nil, false
	}
	return v, true
}

// repeatsKey walks valid JSON's tokens for an object that names a key
// twice (after unescaping, as the decoded map would hold it).
func repeatsKey(data []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(data))
	var stack []map[string]bool // the keys seen, per open object; nil in an array
	expectKey := func() bool { return len(stack) > 0 && stack[len(stack)-1] != nil }
	keyNext := true
	for {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, map[string]bool{})
			keyNext = true
			continue
		case json.Delim('['):
			stack = append(stack, nil)
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
		default:
			if k, ok := tok.(string); ok && expectKey() && keyNext {
				if stack[len(stack)-1][k] {
					return true
				}
				stack[len(stack)-1][k] = true
				keyNext = false
				continue
			}
		}
		keyNext = true
	}
}

func agree(t *testing.T, data []byte) {
	t.Helper()
	want, valid := reference(data)
	got, err := decodeJSON(data)
	if !valid {
		assert.Error(t, err, "%q is not JSON", data)
		return
	}
	if assert.NoError(t, err, "%q", data) {
		assert.Equal(t, want, got, "%q", data)
	}
}

func TestDecodeAgreesWithEncodingJSON(t *testing.T) {
	cases := []string{
		`{}`, `[]`, `""`, `0`, `-0`, `1.5e10`, `-12.340E-2`, `true`, `false`, `null`, ` {"a" : [ 1 , 2 ] } `,
		`{"a":1,"a":2}`, `{"a":1,"\u0061":2}`, `{"a":{"b":1},"b":{"b":2}}`, `[{"a":1},{"a":1}]`, `{"a":[{"a":1,"a":1}]}`, `{"":""}`, `"\u00e9\u4e2d\ud83c\udf89"`, `"\ud83c"`, `"\ud83cx"`, `"\udf89\ud83c"`,
		`"\ud83c\u0041"`, `"\"\\\/\b\f\n\r\t"`, "\"bad \xff\xfe utf8\"", "\"mixed \xc3\xa9 \xc3\"", `"\u002"`,
		`01`, `1.`, `.5`, `1e`, `1e+`, `-`, `+1`, `NaN`, `tru`, `nul`, `[1,]`, `{"a":1,}`, `{"a" 1}`, `{1:2}`,
		`[1 2]`, `{"a":1}x`, `{"a":1} {}`, "\"tab\there\"", `"\x"`, `"unterminated`, ``, `   `, `[`, `{"a":`,
		strings.Repeat("[", 10001) + strings.Repeat("]", 10001), strings.Repeat("[", 100) + strings.Repeat("]", 100),
	}
	for _, c := range cases {
		agree(t, []byte(c))
	}
}

func TestDecodeAgreesOnFixtures(t *testing.T) {
	files := fixtures.Need(t)
	for _, f := range files {
		body, err := os.ReadFile(f)
		require.NoError(t, err)
		want, _ := reference(body)
		got, err := decodeJSON(body)
		require.NoError(t, err, f)
		require.Equal(t, want, got, f)
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range []string{`{"a":[1,"\u00e9",null,true]}`, `"\ud83c\udf89"`, `-1.5e-3`, "\"\xff\""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) { agree(t, data) })
}

func BenchmarkDecode(b *testing.B) {
	files := fixtures.Need(b)
	body, err := os.ReadFile(files[len(files)-1])
	require.NoError(b, err)
	b.SetBytes(int64(len(body)))
	b.Run("decodeJSON", func(b *testing.B) {
		for b.Loop() {
			_, _ = decodeJSON(body)
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		for b.Loop() {
			_, _ = reference(body)
		}
	})
}

func BenchmarkParse(b *testing.B) {
	files := fixtures.Need(b)
	body, err := os.ReadFile(files[len(files)-1])
	require.NoError(b, err)
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := Parse(body); err != nil {
			b.Fatal(err)
		}
	}
}
