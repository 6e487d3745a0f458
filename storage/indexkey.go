package storage

import (
	"crypto/sha256"
	"encoding/hex"
	"unicode/utf8"
)

// MaxIndexed is the most bytes of one text value a search index row
// holds. A btree row cannot pass about 2.7 KB, so a longer value (a
// family name, an identifier, a code of several kilobytes) would make
// its write fail: the index keeps a bounded form of it instead, and the
// search package compares in that form (IndexKey, IndexPrefix).
const MaxIndexed = 1000

// IndexKey is what an index compared by equality (codes, systems,
// URIs, reference URLs and ids) holds for s: s itself up to MaxIndexed
// bytes, else its first MaxIndexed bytes and the SHA-256 of the whole.
// A long value's key is longer than MaxIndexed, so it never equals a
// short value's.
func IndexKey(s string) string {
	if len(s) <= MaxIndexed {
		return s
	}
	sum := sha256.Sum256([]byte(s))
	return IndexPrefix(s) + "#" + hex.EncodeToString(sum[:])
}

// IndexPrefix is s cut to at most MaxIndexed bytes, between characters:
// what a string index compared by prefix holds. A search prefix of at
// most MaxIndexed bytes begins the cut value exactly when it begins s.
func IndexPrefix(s string) string {
	if len(s) <= MaxIndexed {
		return s
	}
	cut := MaxIndexed
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}

func indexKey(p *string) *string {
	if p == nil || len(*p) <= MaxIndexed {
		return p
	}
	k := IndexKey(*p)
	return &k
}

// longValue is the whole of a string value whose index row holds only
// its prefix (nil for others), for the checks the prefix cannot answer.
func longValue(s string) *string {
	if len(s) <= MaxIndexed {
		return nil
	}
	return &s
}
