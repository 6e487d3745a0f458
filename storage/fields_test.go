package storage

import (
	"bytes"
	"compress/flate"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

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

// An inbound body with an encrypted identifier is stored compressed (S2)
// and sealed, holding nothing of the plaintext, smaller than the body;
// bodies sealed in the earlier forms (deflated, and base64 of the
// ciphertext) still open.
func TestInboundBodiesSealCompressedAndOpenInEveryForm(t *testing.T) {
	ctx := context.Background()
	c := fixedCipher(make([]byte, 32))
	entry := `{"resource":{"resourceType":"Patient","identifier":[{"system":"` + SSNSystem + `","value":"111-22-3333"}],"name":[{"family":"Doe"}]}},`
	body := []byte(`{"resourceType":"Bundle","type":"transaction","entry":[` + strings.Repeat(entry, 200) + `{}]}`)
	sealed, err := c.sealBody(ctx, body)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(sealed, s2Prefix) || bytes.Contains(sealed, []byte("111-22-3333")) || bytes.Contains(sealed, []byte("Doe")) {
		t.Fatalf("not sealed: %.80q", sealed)
	}
	if len(sealed) > len(body)/4 {
		t.Fatalf("sealed %d bytes of a %d-byte body: not compressed", len(sealed), len(body))
	}
	ciphertext, err := c.c.Seal(body, []byte("inbound body"))
	if err != nil {
		t.Fatal(err)
	}
	first := append(append([]byte{}, sealedPrefix...), base64.StdEncoding.EncodeToString(ciphertext)...)
	var deflated bytes.Buffer
	w, _ := flate.NewWriter(&deflated, flate.BestSpeed)
	_, _ = w.Write(body)
	require.NoError(t, w.Close())
	sealedDeflated, err := c.c.Seal(deflated.Bytes(), []byte("inbound body"))
	require.NoError(t, err)
	second := append(append([]byte{}, deflatedPrefix...), sealedDeflated...)
	for name, stored := range map[string][]byte{"s2": sealed, "deflated": second, "first form": first, "plain": []byte(`{"resourceType":"Bundle"}`)} {
		got, err := c.openBody(ctx, stored)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if want := body; name != "plain" && !bytes.Equal(got, want) || name == "plain" && !bytes.Equal(got, stored) {
			t.Fatalf("%s: opened %.80q", name, got)
		}
	}
}
