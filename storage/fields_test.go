package storage

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/fhirserver/fhirserver/storage/keyring"
)

// jsonbText prints compact JSON the way PostgreSQL prints jsonb, for
// these simple documents: a space after each colon and comma.
func jsonbText(compact []byte) []byte {
	s := strings.ReplaceAll(string(compact), `":`, `": `)
	return []byte(strings.ReplaceAll(s, `,"`, `, "`))
}

// The fast path restores what seal encrypted, as the slow path does.
func TestOpenFastRestoresWhatSealHid(t *testing.T) {
	c := fixedCipher(map[int32][]byte{1: make([]byte, 32)})
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
	out, ok := c.openFast(context.Background(), jsonbText(sealed))
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

// SSNSystem is the identifier the test protection encrypts.
const SSNSystem = "http://hl7.org/fhir/sid/us-ssn"

// testProtection encrypts what these tests seal: SSNs, addresses, notes
// (the type rules declare the server's).
var testProtection = Protection{Identifier: SSNSystem,
	Sealed: map[string][]string{"Patient": {"address"}, "*": {"note"}}}

// fixedCipher is a cipher of given generations, the newest in use, that
// looks for no others.
func fixedCipher(byGen map[int32][]byte) *FieldCipher {
	c := &FieldCipher{blind: make([]byte, 32), protection: &testProtection}
	ks := &keySet{byGen: byGen, checked: time.Now().Add(time.Hour)}
	for g := range byGen {
		ks.current = max(ks.current, g)
	}
	c.keys.Store(ks)
	return c
}

// A value sealed before key generations (the first key's, unnamed) opens
// beside values sealed, and named, under later ones.
func TestOpensValuesOfEveryGenerationAndBeforeGenerations(t *testing.T) {
	first, second := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	c := fixedCipher(map[int32][]byte{1: first, 2: second})
	legacy, err := keyring.Seal(first, []byte("111-22-3333"), []byte(SSNSystem))
	if err != nil {
		t.Fatal(err)
	}
	named, err := c.sealValue([]byte("444-55-6666"), []byte(SSNSystem))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(named, append(append([]byte{}, generationMarker...), 0, 0, 0, 2)) {
		t.Fatalf("sealed without naming generation 2: % x", named[:8])
	}
	ctx := context.Background()
	for sealed, want := range map[string]string{string(legacy): "111-22-3333", string(named): "444-55-6666"} {
		got, err := c.openValue(ctx, []byte(sealed), []byte(SSNSystem))
		if err != nil || string(got) != want {
			t.Fatalf("opened %q (%v), want %q", got, err, want)
		}
	}
	// Through a resource, as the store reads it.
	resource := `{"resourceType": "Patient", "identifier": [{"system": "` + SSNSystem + `", "_value": {"extension": [{"url": "` + encryptedURL +
		`", "valueBase64Binary": "` + base64.StdEncoding.EncodeToString(legacy) + `"}]}}]}`
	out, err := c.open(ctx, []byte(resource))
	if err != nil || !strings.Contains(string(out), "111-22-3333") {
		t.Fatalf("opened %s (%v)", out, err)
	}
}
