package keys

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/fhirserver/fhirserver/storage/keyring"
)

const ssnSystem = "http://hl7.org/fhir/sid/us-ssn"

// fixedCipher is a cipher of given generations, the newest in use, that
// looks for no others.
func fixedCipher(byGen map[int32][]byte) *Cipher {
	c := &Cipher{blind: make([]byte, 32)}
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
	legacy, err := keyring.Seal(first, []byte("111-22-3333"), []byte(ssnSystem))
	if err != nil {
		t.Fatal(err)
	}
	named, err := c.Seal([]byte("444-55-6666"), []byte(ssnSystem))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(named, append(append([]byte{}, generationMarker...), 0, 0, 0, 2)) {
		t.Fatalf("sealed without naming generation 2: % x", named[:8])
	}
	ctx := context.Background()
	for sealed, want := range map[string]string{string(legacy): "111-22-3333", string(named): "444-55-6666"} {
		got, err := c.Open(ctx, []byte(sealed), []byte(ssnSystem))
		if err != nil || string(got) != want {
			t.Fatalf("opened %q (%v), want %q", got, err, want)
		}
	}
	if _, err := c.Open(ctx, named, []byte("another binding")); err == nil {
		t.Fatal("a value opened under another binding than it was sealed with")
	}
}

// A blind value is keyed and stable: the same value blinds the same, and
// the value does not show through.
func TestBlind(t *testing.T) {
	c := fixedCipher(map[int32][]byte{1: make([]byte, 32)})
	a, b := c.Blind("111-22-3333"), c.Blind("111-22-3333")
	if a != b || !bytes.HasPrefix([]byte(a), []byte(blindPrefix)) || bytes.Contains([]byte(a), []byte("111-22-3333")) {
		t.Fatalf("blind values %q, %q", a, b)
	}
	if c.Blind("111-22-3334") == a {
		t.Fatal("two values blind alike")
	}
}
