package resources

import (
	"bytes"
	"encoding/json"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirserver/fhirserver/conformance/fixtures"
)

// stdlib is what encode must match: encoding/json without HTML escaping.
func stdlib(t testing.TB, v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	require.NoError(t, enc.Encode(v))
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

func decode(t testing.TB, s []byte) any {
	dec := json.NewDecoder(bytes.NewReader(s))
	dec.UseNumber()
	var v any
	require.NoError(t, dec.Decode(&v))
	return v
}

func TestEncodeMatchesEncodingJSON(t *testing.T) {
	values := []any{
		nil, true, false, "", "plain", `quote " and \ backslash`, "<b>&amp;</b>",
		"tab\tnew\nline\rcr\bbs\fff", "\x00\x01\x1f\x7f", "é 中文 🎉", "\u2028\u2029", "bad \xff utf8 \xc3",
		json.Number("1.50"), json.Number("-0.0001e10"), json.Number("12345678901234567890"),
		[]any{}, map[string]any{}, []any{nil, "a", json.Number("2")},
		map[string]any{"b": "1", "a": []any{map[string]any{"z": true, "_y": nil}}, "A": "upper", "é": "x"},
		3.25,
	}
	for _, v := range values {
		got, err := encode(v)
		require.NoError(t, err)
		assert.Equal(t, string(stdlib(t, v)), string(got), "%#v", v)
	}
	_, err := encode(json.Number("1e"))
	assert.Error(t, err, "an invalid number is refused, as encoding/json does")
}

// Every fixture, decoded as the server decodes it, encodes byte for byte as
// encoding/json encodes it.
func TestEncodeMatchesEncodingJSONOnFixtures(t *testing.T) {
	files := fixtures.Need(t)
	for _, f := range files {
		body, err := os.ReadFile(f)
		require.NoError(t, err)
		v := decode(t, body)
		got, err := encode(v)
		require.NoError(t, err)
		require.True(t, bytes.Equal(stdlib(t, v), got), f)
	}
}

func FuzzEncode(f *testing.F) {
	f.Add([]byte(`{"a":"\u2028<>&\"","b":[1.0,null,true,{"c":"\t"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		var v any
		if dec.Decode(&v) != nil {
			return
		}
		got, err := encode(v)
		require.NoError(t, err)
		require.Equal(t, string(stdlib(t, v)), string(got))
	})
}

func BenchmarkEncode(b *testing.B) {
	files := fixtures.Need(b)
	body, err := os.ReadFile(files[len(files)-1])
	require.NoError(b, err)
	v := decode(b, body)
	b.Run("encode", func(b *testing.B) {
		for b.Loop() {
			_, _ = encode(v)
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		for b.Loop() {
			stdlib(b, v)
		}
	})
}

// A bundle written by hand equals what encoding/json makes of it (without
// HTML escaping), except that resources are spliced in byte for byte.
func TestBundleEncodeMatchesEncodingJSON(t *testing.T) {
	total := 3
	spaced := json.RawMessage(`{"resourceType": "Patient", "id": "a", "name": [{"family": "O'Hara <&>"}]}`)
	bundles := []*bundle{
		{ResourceType: "Bundle", ID: "empty", Type: "searchset"},
		{ResourceType: "Bundle", ID: "b1", Type: "searchset", Timestamp: "2026-11-23T00:00:00Z", Total: &total,
			Link: []link{{"self", "http://x/fhir/Patient?name=a&_count=1"}, {"next", "http://x/fhir/Patient?_cursor=\"q\""}},
			Entry: []entry{
				{FullURL: "http://x/fhir/Patient/a", Resource: spaced, Search: &entrySearch{Mode: "match"}},
				{Resource: json.RawMessage(`{"resourceType":"Organization"}`), Search: &entrySearch{Mode: "include"}},
				{FullURL: "urn:uuid:1", Request: &entryRequest{Method: "POST", URL: "Patient"},
					Response: &entryResponse{Status: "201 Created", Location: "Patient/a/_history/1", Etag: `W/"1"`,
						LastModified: "2026-11-23T00:00:00Z", Outcome: json.RawMessage(`{"resourceType":"OperationOutcome"}`)}},
				{Response: &entryResponse{Status: "200 OK"}},
				{},
			}},
	}
	for _, b := range bundles {
		got, err := b.encode()
		require.NoError(t, err)
		assert.Equal(t, decode(t, stdlib(t, b)), decode(t, got), b.ID)
	}
	got, err := bundles[1].encode()
	require.NoError(t, err)
	assert.Contains(t, string(got), `"resource":`+string(spaced), "resources go in as they are")
	assert.Contains(t, string(got), `name=a&_count=1`, "no HTML escaping in links")
}
