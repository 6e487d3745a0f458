package search

import (
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirserver/fhirserver/fhirserver/outcome"
	"github.com/fhirserver/fhirserver/storage"
)

func s(v string) *string { return &v }

func TestTokens(t *testing.T) {
	tests := []struct {
		in   string
		want []storage.Token
	}{
		{"abc", []storage.Token{{Value: s("abc")}}},
		{"sys|abc", []storage.Token{{System: s("sys"), Value: s("abc")}}},
		{"|abc", []storage.Token{{System: s(""), Value: s("abc")}}},
		{"sys|", []storage.Token{{System: s("sys")}}},
		{"a,b", []storage.Token{{Value: s("a")}, {Value: s("b")}}},
		{`a\,b`, []storage.Token{{Value: s("a,b")}}},
		{`s\|x|v`, []storage.Token{{System: s("s|x"), Value: s("v")}}},
		{"http://x.org/id|12", []storage.Token{{System: s("http://x.org/id"), Value: s("12")}}},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := tokens("identifier", tc.in)
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
	for _, bad := range []string{"a|b|c", "|", ""} {
		_, err := tokens("identifier", bad)
		assert.True(t, outcome.Is(err, outcome.Invalid), bad)
	}
}

func TestParse(t *testing.T) {
	q, err := Parse("Patient", url.Values{"_id": {"a,b", "b"}, "identifier": {"x|1"}, "name": {"z"}, "_count": {"5000"}}, false)
	require.NoError(t, err)
	assert.Equal(t, [][]string{{"a", "b"}, {"b"}}, q.Criteria.IDs, "comma is OR, repetition is AND")
	assert.Len(t, q.Criteria.Identifiers, 1)
	assert.Equal(t, MaxCount, q.Count)
	assert.NotContains(t, q.Applied, "name", "ignored parameters are not reported as applied")

	_, err = Parse("Patient", url.Values{"name": {"z"}}, true)
	assert.True(t, outcome.Is(err, outcome.Invalid))
	_, err = Parse("Patient", url.Values{"_count": {"-1"}}, false)
	assert.True(t, outcome.Is(err, outcome.Invalid))
}

func TestParseConditionalRefusesWhatItCannotMatch(t *testing.T) {
	for _, q := range []string{"", "name=x", "_id=a&name=x", "identifier=a&_count=1", "%zz"} {
		_, err := ParseConditional("Patient", q)
		assert.True(t, outcome.Is(err, outcome.Invalid), q)
	}
	c, err := ParseConditional("Patient", "identifier=urn:x%7C1")
	require.NoError(t, err)
	assert.Equal(t, []storage.Token{{System: s("urn:x"), Value: s("1")}}, c.Identifiers[0])
}
