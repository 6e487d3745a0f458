package storage

import (
	"encoding/json"
	"strings"
	"testing"
)

// jsonbText prints compact JSON the way PostgreSQL prints jsonb, for
// these simple documents: a space after each colon and comma.
func jsonbText(compact []byte) []byte {
	s := strings.ReplaceAll(string(compact), `":`, `": `)
	return []byte(strings.ReplaceAll(s, `,"`, `, "`))
}

// The fast path restores what seal encrypted, as the slow path does.
func TestOpenFastRestoresWhatSealHid(t *testing.T) {
	c := &FieldCipher{key: make([]byte, 32), blind: make([]byte, 32)}
	in := `{"resourceType":"Patient","id":"p1","identifier":[{"system":"` + SSNSystem + `","value":"111-22-3333"}],` +
		`"address":[{"city":"Springfield","line":["742 Evergreen Terrace"]}],"note":[{"text":"remark"}]}`
	sealed, err := c.seal("Patient", Index{}, []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"111-22-3333", "Springfield", "remark"} {
		if strings.Contains(string(sealed), secret) {
			t.Fatalf("sealed still holds %q", secret)
		}
	}
	out, ok := c.openFast(jsonbText(sealed))
	if !ok {
		t.Fatal("the fast path refused jsonb text")
	}
	var got, want map[string]any
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	_ = json.Unmarshal([]byte(in), &want)
	if gj, wj := mustMarshal(got), mustMarshal(want); gj != wj {
		t.Fatalf("restored %s, want %s", gj, wj)
	}
}

func mustMarshal(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
