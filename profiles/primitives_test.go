package profiles

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// The hand-written checks answer as the specification's patterns do, on
// chosen edge cases and on random strings over the characters that matter.
func TestFastChecksAgreeWithThePatterns(t *testing.T) {
	d, err := R4()
	require.NoError(t, err)
	cases := []string{"", " ", "a", " a", "a ", "a b", "a  b", "a\tb", "a\fb", "\f", "AAAA", "AAA", "AAAA BBBB", "AA AA",
		" AAAA ", "AAAA\n", "A-Z.09", "a_b", "http://x y", "x\r\ny", "====", "ab+/", string(make([]byte, 65))}
	alphabet := []byte("aZ09+/=-. \t\n\r\f_é")
	r := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		b := make([]byte, r.IntN(12))
		for i := range b {
			b[i] = alphabet[r.IntN(len(alphabet))]
		}
		cases = append(cases, string(b))
	}
	for typ, fast := range fastChecks {
		pattern := d.prims[typ].pattern
		require.NotNil(t, pattern, typ)
		for _, s := range cases {
			// The walk refuses empty strings before any pattern is asked.
			if s == "" {
				continue
			}
			require.Equal(t, pattern.MatchString(s), fast(s), "%s %q", typ, s)
		}
	}
}
