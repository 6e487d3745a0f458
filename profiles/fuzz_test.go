package profiles

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/fhirserver/fhirserver/outcome"
)

// FuzzParse feeds the decoder and validator arbitrary bodies: Parse answers
// a resource or an *outcome.Error of a client kind (400, or 422 for a
// profile the resource claims), never an internal error or a panic. A
// resource it accepts is one the store can hold: encodable, of a known
// type, with no NUL in any string or key (jsonb refuses them, which was a
// 500). The seeds in testdata/fuzz/FuzzParse are small real resources
// from the shared fixtures (US Core and PDex examples, with their
// meta.profile claims); those below are the hostile shapes.
func FuzzParse(f *testing.F) {
	deep := func(n int, open, leaf, close string) string {
		return strings.Repeat(open, n) + leaf + strings.Repeat(close, n)
	}
	for _, s := range []string{
		`{"resourceType":"Patient","id":"a","id":"b"}`,
		`{"resourceType":"Patient","resourceType":"Observation"}`,
		`{"resourceType":"Patient","name":[{"family":"a"}],"na\u006de":[]}`,
		`{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueQuantity":{"value":1e400}}`,
		`{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueQuantity":{"value":-0.000000000000000000000000000001e-330}}`,
		`{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueInteger":99999999999999999999999}`,
		`{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueDecimal":` + strings.Repeat("9", 1200) + `}`,
		`{"resourceType":"Patient","multipleBirthInteger":2147483648}`,
		`{"resourceType":"Patient","extension":` + deep(400, `[{"url":"http://x","extension":`, `[]`, `}]`) + `}`,
		`{"resourceType":"Patient","contained":` + deep(50, `[{"resourceType":"Patient","contained":`, `[]`, `}]`) + `}`,
		deep(10001, "[", "", "]"),
		`{"resourceType":"Patient","x":` + deep(9990, "[", "", "]") + `}`,
		"{\"resourceType\":\"Patient\",\"name\":[{\"family\":\"\xff\xfe\xc3\"}]}",
		"{\"resourceType\":\"Patient\",\"\xffid\":\"x\"}",
		`{"resourceType":"Patient","name":[{"family":"a\ud800b"}]}`,
		`{"resourceType":"Patient","name":[{"family":"a\u0000b"}]}`,
		`{"resourceType":"Patient","x\u0000":1}`,
		"{\"resourceType\":\"Patient\",\"name\":[{\"family\":\"a\x00b\"}]}",
		"{\"resourceType\":\"Patient\"}\x00",
		`{"resourceType":"Patient","birthDate":"2023-02-30","_birthDate":{"extension":[{"url":"u","valueCode":"x"}]}}`,
		`{"resourceType":"Patient","gender":["male"],"active":"true","name":{"family":1}}`,
		`{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueString":"a","valueBoolean":true}`,
		`{"resourceType":"Patient","contained":[{"resourceType":"Organization","id":"o"}],"managingOrganization":{"reference":"#o"}}`,
		`{"resourceType":"Bundle","type":"transaction","entry":[{"fullUrl":"urn:uuid:1","resource":{"resourceType":"Patient"},"request":{"method":"POST","url":"Patient"}}]}`,
		`{"resourceType":"Parameters","parameter":[{"name":"resource","resource":{"resourceType":"Patient","active":1}}]}`,
		`{"resourceType":"Patient","meta":{"profile":["http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient|3.1.1","x"]}}`,
		`{"resourceType":"Binary","contentType":"text/plain","data":"aGVsbG8=\n"}`,
		`{"resourceType":"Patient","text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\"><script/></div>"}}`,
		`{"resourceType":"DomainResource"}`, `{"resourceType":"Resource"}`, `{"resourceType":""}`, `{"resourceType":1}`,
		`{}`, `[]`, `null`, `"Patient"`, ``, `{"resourceType":"Patient"} {}`, `{"resourceType":"Patient",}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		res, err := Parse(body)
		if err != nil {
			var oe *outcome.Error
			if !errors.As(err, &oe) {
				t.Fatalf("%q: %T %v is not an *outcome.Error", body, err, err)
			}
			if oe.Kind != outcome.Invalid && oe.Kind != outcome.Unprocessable {
				t.Fatalf("%q: kind %d (status %d): %v", body, oe.Kind, oe.Kind.Status(), err)
			}
			return
		}
		if !IsResourceType(res.Type) || res.Object["resourceType"] != res.Type {
			t.Fatalf("%q: accepted as %q", body, res.Type)
		}
		if _, err := json.Marshal(res.Object); err != nil {
			t.Fatalf("%q: accepted but not encodable: %v", body, err)
		}
		if s, ok := unstorable(res.Object); ok {
			t.Fatalf("%q: accepted with %q, which the store refuses", body, s)
		}
	})
}

// unstorable finds a key or string PostgreSQL's jsonb cannot hold.
func unstorable(v any) (string, bool) {
	bad := func(s string) bool { return strings.IndexByte(s, 0) >= 0 || !utf8.ValidString(s) }
	switch x := v.(type) {
	case string:
		return x, bad(x)
	case map[string]any:
		for k, val := range x {
			if bad(k) {
				return k, true
			}
			if s, ok := unstorable(val); ok {
				return s, true
			}
		}
	case []any:
		for _, val := range x {
			if s, ok := unstorable(val); ok {
				return s, true
			}
		}
	}
	return "", false
}
