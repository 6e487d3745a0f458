package storage

import (
	"bytes"
	"compress/flate"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/klauspost/compress/s2"
)

// Field encryption of high-risk PHI: what the Protection names (the type
// rules declare it: government identifiers, addresses, notes, sensitive
// conditions) is stored encrypted with AES-256-GCM under a data key the
// key provider wraps, and indexed by a keyed HMAC (a blind index) so that
// an exact search still finds it. What a client reads is the plaintext.
// The keys and the cryptography are storage/keys' (a Cipher); this file
// applies them to resources, as the Protection says.
const encryptedURL = "http://fhirserver.dev/fhir/StructureDefinition/encrypted-value"

// Protection says what of each resource type is encrypted at rest and
// indexed blind. The cipher applies it and knows no resource type of its
// own: the type rules declare it (resources), and the server sets it
// before it writes (Store.Protect).
type Protection struct {
	// Identifier is the identifier system whose values are encrypted and
	// indexed blind, in any resource (US SSN); also the associated data
	// that binds each sealed value to it.
	Identifier string
	// Sealed are the elements encrypted whole, by resource type; "*" for
	// every type.
	Sealed map[string][]string
	// BlindStrings are the string parameters indexed blind, by type.
	BlindStrings map[string][]string
	// Sensitive are the codes that make a resource of a type sensitive:
	// its coded element is then encrypted whole and its codes indexed
	// blind.
	Sensitive map[string]SensitiveCodes
}

// SensitiveCodes are the codes of one token parameter that make a
// resource sensitive, and the element they come from.
type SensitiveCodes struct {
	Param, Element string
	Codes          map[string]bool
}

// Protect sets what is encrypted at rest. A server sets it once, before
// its first write; a store without one encrypts nothing of a resource.
func (s *Store) Protect(p Protection) { s.protection = p }

// Cipher seals and opens values and computes blind index values under
// the data keys (storage/keys' Cipher). It knows no resource type: the
// store applies it to what the Protection names.
type Cipher interface {
	// Fresh looks for a newer key generation when the last look is old;
	// the store calls it before a transaction takes its connection.
	Fresh(ctx context.Context) error
	// Seal seals plain, bound to aad, under the newest key.
	Seal(plain, aad []byte) ([]byte, error)
	// Open opens what Seal sealed under any key, bound to the same aad.
	Open(ctx context.Context, sealed, aad []byte) ([]byte, error)
	// Blind is the blind index value of a value.
	Blind(value string) string
}

// fieldCipher applies a Cipher to resources, index values and inbound
// bodies as the store's Protection says; nil encrypts nothing.
type fieldCipher struct {
	c Cipher
	// protection is what it encrypts: the store's (SetFieldCipher).
	protection *Protection
}

// SetFieldCipher makes the store encrypt and decrypt fields with c;
// without one nothing is encrypted.
func (s *Store) SetFieldCipher(c Cipher) {
	if c == nil {
		s.cipher = nil
		return
	}
	s.cipher = &fieldCipher{c: c, protection: &s.protection}
}

// fresh looks for a newer key generation when the last look is old.
func (c *fieldCipher) fresh(ctx context.Context) error {
	if c == nil {
		return nil
	}
	return c.c.Fresh(ctx)
}

// policy is the protection the cipher applies; empty when none is set.
func (c *fieldCipher) policy() *Protection {
	if c.protection == nil {
		return &Protection{}
	}
	return c.protection
}

const encryptedElementURL = "http://fhirserver.dev/fhir/StructureDefinition/encrypted-element"

// sensitive reports whether a resource's index carries one of its type's
// sensitive codes.
func (p *Protection) sensitive(typ string, idx Index) bool {
	sc, ok := p.Sensitive[typ]
	if !ok {
		return false
	}
	for _, t := range idx.Tokens {
		if t.Param == sc.Param && t.Code != nil && sc.Codes[*t.Code] {
			return true
		}
	}
	return false
}

// elementsOf are the elements of a resource encrypted whole.
func (p *Protection) elementsOf(typ string, isSensitive bool) []string {
	out := append(append([]string{}, p.Sealed["*"]...), p.Sealed[typ]...)
	if isSensitive {
		out = append(out, p.Sensitive[typ].Element)
	}
	return out
}

// seal encrypts what must be encrypted in a resource: its SSN identifiers'
// values and its high-risk elements whole; others pass untouched.
func (c *fieldCipher) seal(typ string, idx Index, resource []byte) ([]byte, error) {
	if c == nil {
		return resource, nil
	}
	p := c.policy()
	isSensitive := p.sensitive(typ, idx)
	elements := p.elementsOf(typ, isSensitive)
	present := p.Identifier != "" && bytes.Contains(resource, []byte(p.Identifier))
	for _, e := range elements {
		present = present || bytes.Contains(resource, []byte(`"`+e+`"`))
	}
	if !present {
		return resource, nil
	}
	obj, err := decodeExact(resource)
	if err != nil {
		return nil, err
	}
	for _, e := range elements {
		v, ok := obj[e]
		if !ok {
			continue
		}
		plain, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		sealed, err := c.c.Seal(plain, []byte(typ+"."+e))
		if err != nil {
			return nil, err
		}
		env := map[string]any{"extension": []any{map[string]any{"url": encryptedElementURL, "valueBase64Binary": base64.StdEncoding.EncodeToString(sealed)}}}
		if _, isList := v.([]any); isList {
			obj[e] = []any{env}
		} else {
			obj[e] = env
		}
	}
	ids, _ := obj["identifier"].([]any)
	for _, x := range ids {
		id, _ := x.(map[string]any)
		value, ok := id["value"].(string)
		if !ok || p.Identifier == "" || id["system"] != p.Identifier {
			continue
		}
		sealed, err := c.c.Seal([]byte(value), []byte(p.Identifier))
		if err != nil {
			return nil, err
		}
		delete(id, "value")
		id["_value"] = map[string]any{"extension": []any{map[string]any{"url": encryptedURL, "valueBase64Binary": base64.StdEncoding.EncodeToString(sealed)}}}
	}
	return json.Marshal(obj)
}

// open restores the encrypted identifiers and elements of a stored
// resource.
func (c *fieldCipher) open(ctx context.Context, resource []byte) ([]byte, error) {
	if !bytes.Contains(resource, []byte(encryptedURL)) && !bytes.Contains(resource, []byte(encryptedElementURL)) {
		return resource, nil
	}
	if c == nil {
		return nil, errors.New("storage: an encrypted field but no field key")
	}
	if out, ok := c.openFast(ctx, resource); ok {
		return out, nil
	}
	obj, err := decodeExact(resource)
	if err != nil {
		return nil, err
	}
	typ, _ := obj["resourceType"].(string)
	for e, v := range obj {
		env := v
		if list, ok := v.([]any); ok && len(list) == 1 {
			env = list[0]
		}
		m, _ := env.(map[string]any)
		exts, _ := m["extension"].([]any)
		if len(m) != 1 || len(exts) != 1 {
			continue
		}
		x, _ := exts[0].(map[string]any)
		if x["url"] != encryptedElementURL {
			continue
		}
		sealed, err := base64.StdEncoding.DecodeString(fmt.Sprint(x["valueBase64Binary"]))
		if err != nil {
			return nil, err
		}
		plain, err := c.c.Open(ctx, sealed, []byte(typ+"."+e))
		if err != nil {
			return nil, fmt.Errorf("storage: an encrypted element does not open: %w", err)
		}
		d := json.NewDecoder(bytes.NewReader(plain))
		d.UseNumber()
		var restored any
		if err := d.Decode(&restored); err != nil {
			return nil, err
		}
		obj[e] = restored
	}
	ids, _ := obj["identifier"].([]any)
	for _, x := range ids {
		id, _ := x.(map[string]any)
		ext, _ := id["_value"].(map[string]any)
		list, _ := ext["extension"].([]any)
		if len(list) != 1 {
			continue
		}
		e, _ := list[0].(map[string]any)
		if e["url"] != encryptedURL {
			continue
		}
		sealed, err := base64.StdEncoding.DecodeString(fmt.Sprint(e["valueBase64Binary"]))
		if err != nil {
			return nil, err
		}
		plain, err := c.c.Open(ctx, sealed, []byte(c.policy().Identifier))
		if err != nil {
			return nil, fmt.Errorf("storage: an encrypted identifier does not open: %w", err)
		}
		delete(id, "_value")
		id["value"] = string(plain)
	}
	return json.Marshal(obj)
}

// blindIndex replaces the index values that come from encrypted data by
// their blind index: SSNs, addresses, a sensitive condition's codes.
func (c *fieldCipher) blindIndex(typ string, idx *Index) {
	if c == nil {
		return
	}
	p := c.policy()
	isSensitive := p.sensitive(typ, *idx)
	for i, t := range idx.Tokens {
		switch {
		case p.Identifier != "" && t.System != nil && *t.System == p.Identifier && t.Code != nil:
			b := c.c.Blind(*t.Code)
			idx.Tokens[i].Code = &b
		case isSensitive && t.Param == p.Sensitive[typ].Param && t.Code != nil:
			b := c.c.Blind("code:" + *t.Code)
			idx.Tokens[i].Code, idx.Tokens[i].Text = &b, nil
		}
	}
	for i, st := range idx.Strings {
		if slices.Contains(p.BlindStrings[typ], st.Param) {
			idx.Strings[i].Value, idx.Strings[i].Exact = c.c.Blind("value:"+st.Value), c.c.Blind("exact:"+st.Exact)
		}
	}
}

// opened decrypts the versions read.
func (c *fieldCipher) opened(ctx context.Context, vs []Version) ([]Version, error) {
	for i := range vs {
		if len(vs[i].Resource) == 0 {
			continue
		}
		r, err := c.open(ctx, vs[i].Resource)
		if err != nil {
			return nil, err
		}
		vs[i].Resource = r
	}
	return vs, nil
}

// BlindToken is what the index holds for a token searched for: the blind
// index value of an identifier or a sensitive code encrypted at rest,
// else the code itself.
func (s *Store) BlindToken(typ, param, system, code string) string {
	p := &s.protection
	switch {
	case s.cipher == nil:
		return code
	case p.Identifier != "" && system == p.Identifier:
		return s.cipher.c.Blind(code)
	case p.Sensitive[typ].Param == param && p.Sensitive[typ].Codes[code]:
		return s.cipher.c.Blind("code:" + code)
	}
	return code
}

// BlindString is what the index holds for a string searched for when the
// parameter is indexed blind (addresses): value normalised, or exact;
// ok false for other parameters. A blind value matches whole, not by
// prefix.
func (s *Store) BlindString(typ, param, value string, exact bool) (string, bool) {
	if s.cipher == nil || !slices.Contains(s.protection.BlindStrings[typ], param) {
		return "", false
	}
	if exact {
		return s.cipher.c.Blind("exact:" + value), true
	}
	return s.cipher.c.Blind("value:" + value), true
}

// An inbound body with an encrypted identifier in it is kept encrypted
// whole: the raw body is no less sensitive than the resource. It is
// compressed first, since ciphertext does not compress, and stored as
// bytes: with S2 (s2Prefix), which on Synthea's bundles runs seven times
// as fast as the standard library's fastest deflate and compresses them
// further (13x against 7x); deflate (deflatedPrefix) cost 7 % of the
// server's CPU during an ingest. Both earlier forms are still read:
// deflated, and the base64 of the ciphertext (sealedPrefix), which made the
// log of a bulk load larger than the resources it held.
var (
	sealedPrefix   = []byte("sealed:")
	deflatedPrefix = []byte("sealed+deflate:")
	s2Prefix       = []byte("sealed+s2:")
)

func (c *fieldCipher) sealBody(ctx context.Context, body []byte) ([]byte, error) {
	if c == nil || c.policy().Identifier == "" || !bytes.Contains(body, []byte(c.policy().Identifier)) {
		return body, nil
	}
	if err := c.fresh(ctx); err != nil {
		return nil, err
	}
	scratch, _ := s2Scratch.get()
	compressed := s2.Encode(scratch[:cap(scratch)], body)
	sealed, err := c.c.Seal(compressed, []byte("inbound body"))
	if cap(compressed) > maxS2Scratch {
		compressed = scratch
	}
	s2Scratch.put(compressed[:0])
	if err != nil {
		return nil, err
	}
	return append(append(make([]byte, 0, len(s2Prefix)+len(sealed)), s2Prefix...), sealed...), nil
}

// s2Scratch holds the buffers a body is compressed into before it is
// sealed (the sealed copy is what is kept).
var s2Scratch = newFreeList[[]byte](4)

const maxS2Scratch = 16 << 20

func (c *fieldCipher) openBody(ctx context.Context, body []byte) ([]byte, error) {
	compressed, isS2 := bytes.CutPrefix(body, s2Prefix)
	deflated, isDeflated := bytes.CutPrefix(body, deflatedPrefix)
	encoded, isEncoded := bytes.CutPrefix(body, sealedPrefix)
	if !isS2 && !isDeflated && !isEncoded {
		return body, nil
	}
	if c == nil {
		return nil, errors.New("storage: a sealed inbound body but no field key")
	}
	switch {
	case isEncoded:
		sealed, err := base64.StdEncoding.DecodeString(string(encoded))
		if err != nil {
			return nil, err
		}
		return c.c.Open(ctx, sealed, []byte("inbound body"))
	case isDeflated:
		plain, err := c.c.Open(ctx, deflated, []byte("inbound body"))
		if err != nil {
			return nil, err
		}
		return io.ReadAll(flate.NewReader(bytes.NewReader(plain)))
	}
	plain, err := c.c.Open(ctx, compressed, []byte("inbound body"))
	if err != nil {
		return nil, err
	}
	return s2.Decode(nil, plain)
}

// decodeExact decodes JSON keeping numbers as written (0.0 stays 0.0).
func decodeExact(b []byte) (map[string]any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var obj map[string]any
	return obj, d.Decode(&obj)
}

// openFast restores the encrypted elements and identifier values of a
// resource as PostgreSQL prints jsonb ("key": value, keys in its order) by
// splicing each plaintext in where its envelope was: no decoding and
// re-encoding of the whole resource, which cost a search page of fifty
// patients several milliseconds. ok is false when the text is not in that
// form; open then does it the slow way.
func (c *fieldCipher) openFast(ctx context.Context, resource []byte) ([]byte, bool) {
	typ := resourceTypeOf(resource)
	if typ == "" {
		return nil, false
	}
	out := resource
	for _, env := range []struct {
		url   string
		value bool // an identifier's value, rather than a whole element
	}{{encryptedElementURL, false}, {encryptedURL, true}} {
		head := []byte(`{"extension": [{"url": "` + env.url + `", "valueBase64Binary": "`)
		for {
			i := bytes.Index(out, head)
			if i < 0 {
				break
			}
			j := bytes.Index(out[i+len(head):], []byte(`"}]}`))
			if j < 0 {
				return nil, false
			}
			b64 := out[i+len(head) : i+len(head)+j]
			end := i + len(head) + j + len(`"}]}`)
			start := i
			// the key before it: "key": or "key": [
			k := bytes.LastIndex(out[:start], []byte(`": `))
			if k < 0 {
				return nil, false
			}
			q := bytes.LastIndexByte(out[:k], '"')
			key := string(out[q+1 : k])
			if out[start-1] == '[' && !env.value {
				if end >= len(out) || out[end] != ']' {
					return nil, false
				}
				start, end = start-1, end+1
			}
			sealed := make([]byte, base64.StdEncoding.DecodedLen(len(b64)))
			n, err := base64.StdEncoding.Decode(sealed, b64)
			if err != nil {
				return nil, false
			}
			var plain []byte
			if env.value {
				p, err := c.c.Open(ctx, sealed[:n], []byte(c.policy().Identifier))
				if err != nil || key != "_value" {
					return nil, false
				}
				quoted, _ := json.Marshal(string(p))
				// "_value": {...} becomes "value": "..."
				next := append(append(append([]byte{}, out[:q]...), `"value": `...), quoted...)
				out = append(next, out[end:]...)
				continue
			}
			p, err := c.c.Open(ctx, sealed[:n], []byte(typ+"."+key))
			if err != nil {
				return nil, false
			}
			plain = p
			next := append(append([]byte{}, out[:start]...), plain...)
			out = append(next, out[end:]...)
		}
	}
	return out, true
}

// resourceTypeOf reads "resourceType" from jsonb text without decoding.
func resourceTypeOf(b []byte) string {
	const key = `"resourceType": "`
	i := bytes.Index(b, []byte(key))
	if i < 0 {
		return ""
	}
	rest := b[i+len(key):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		return ""
	}
	return string(rest[:j])
}
