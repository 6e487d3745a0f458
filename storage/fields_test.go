package storage

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"

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
	c := fixedCipher(make([]byte, 32))
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

// testCipher seals under one fixed key, as storage/keys' Cipher does
// under each of its generations, without a database.
type testCipher struct{ key []byte }

func (testCipher) Fresh(context.Context) error { return nil }

func (c testCipher) Seal(plain, aad []byte) ([]byte, error) { return keyring.Seal(c.key, plain, aad) }

func (c testCipher) Open(_ context.Context, sealed, aad []byte) ([]byte, error) {
	return keyring.Open(c.key, sealed, aad)
}

func (testCipher) Blind(v string) string { return "blind:" + hex.EncodeToString([]byte(v)) }

// fixedCipher applies the test protection with a cipher of one key.
func fixedCipher(key []byte) *fieldCipher {
	return &fieldCipher{c: testCipher{key}, protection: &testProtection}
}

// A stored identifier value sealed by the cipher opens, as the store
// reads it, by the slow path as well as the fast one.
func TestOpensSealedIdentifiers(t *testing.T) {
	key := bytes.Repeat([]byte{1}, 32)
	c := fixedCipher(key)
	sealed, err := keyring.Seal(key, []byte("111-22-3333"), []byte(SSNSystem))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	resource := `{"resourceType": "Patient", "identifier": [{"system": "` + SSNSystem + `", "_value": {"extension": [{"url": "` + encryptedURL +
		`", "valueBase64Binary": "` + base64.StdEncoding.EncodeToString(sealed) + `"}]}}]}`
	out, err := c.open(ctx, []byte(resource))
	if err != nil || !strings.Contains(string(out), "111-22-3333") {
		t.Fatalf("opened %s (%v)", out, err)
	}
	// The slow path: the same, compact (not as PostgreSQL prints jsonb).
	var compact bytes.Buffer
	if err := json.Compact(&compact, []byte(resource)); err != nil {
		t.Fatal(err)
	}
	out, err = c.open(ctx, compact.Bytes())
	if err != nil || !strings.Contains(string(out), "111-22-3333") {
		t.Fatalf("opened %s (%v)", out, err)
	}
}
