package storage

import (
	"crypto/md5"
	"encoding/binary"
)

// ParamID is the number the token index names a parameter of a resource
// type by (migration 039): the first 8 bytes of the MD5 of "type:param",
// big-endian, as SQL's param_id(type, param) computes it. A hash, so that
// a parameter needs no registry; 64 bits, so that the few thousand
// parameters a server knows do not collide (TestParamIDsAreDistinct in
// search checks the known ones).
func ParamID(typ, param string) int64 {
	var buf [96]byte
	b := append(append(append(buf[:0], typ...), ':'), param...)
	sum := md5.Sum(b)
	return int64(binary.BigEndian.Uint64(sum[:8]))
}
