package storage

import (
	"crypto/md5"
	"encoding/binary"
)

// ParamID is the number the token index names a parameter of a resource
// type by (migration 039): TextID of "type:param", as SQL's
// param_id(type, param) computes it. A hash, so that a parameter needs no
// registry; 64 bits, so that the few thousand parameters a server knows
// do not collide (TestParamIDsAreDistinct in search checks the known
// ones). A type has no ':', so the pair reads back one way only.
func ParamID(typ, param string) int64 {
	var buf [96]byte
	return TextID(append(append(append(buf[:0], typ...), ':'), param...))
}

// SystemID is the number the token index holds for a code system
// (migration 040): TextID of the system as the row holds it (IndexKey),
// as SQL's text_id(system) computes it. A system is a URL, often 40 to 60
// bytes, held in every token index; its number is 8, and compares as one.
func SystemID(system string) int64 { return TextID([]byte(IndexKey(system))) }

// TextID is the first 8 bytes of the MD5 of b, big-endian: SQL's
// text_id(). Not a secret or a signature: a short, stable name for a
// value. Two of ten thousand values share one by chance about three times
// in 10^12; making a value that shares the id of a given one is a 2^64
// search.
func TextID(b []byte) int64 {
	sum := md5.Sum(b)
	return int64(binary.BigEndian.Uint64(sum[:8]))
}
