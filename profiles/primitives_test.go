package profiles

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
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

// The range checks refuse what the patterns let through but a database
// cannot hold, and nothing a real record holds.
func TestRangeChecks(t *testing.T) {
	tests := []struct {
		typ, value string
		ok         bool
	}{
		{"decimal", "0", true},
		{"decimal", "-0.000", true},
		{"decimal", "1.5e300", true},
		{"decimal", "-1e-320", true}, // subnormal, still a double
		{"decimal", "1e200000", false},
		{"decimal", "-1e309", false},
		{"decimal", "1e-400", false}, // underflows to zero
		{"decimal", "1" + strings.Repeat("0", 400), false},
		{"decimal", "0." + strings.Repeat("1", 1000), true},
		{"decimal", "0." + strings.Repeat("1", 1001), false},
		{"date", "2024", true},
		{"date", "2023-02", true},
		{"date", "2024-02-29", true},
		{"date", "2023-02-29", false},
		{"date", "2023-02-30", false},
		{"date", "2023-04-31", false},
		{"date", "2023-12-31", true},
		{"dateTime", "2023-02-30T10:00:00Z", false},
		{"dateTime", "2023-01-31T10:00:00+14:00", true},
		{"instant", "2023-06-31T10:00:00.123Z", false},
	}
	for _, tc := range tests {
		assert.Equal(t, tc.ok, rangeChecks[tc.typ](tc.value), "%s %s", tc.typ, tc.value)
	}
}
