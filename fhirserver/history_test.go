package fhirserver_test

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func nextLink(t *testing.T, b map[string]any) string {
	for _, l := range b["link"].([]any) {
		m := l.(map[string]any)
		if m["relation"] == "next" {
			return m["url"].(string)
		}
	}
	return ""
}

// History pages with next links; versions written while a client pages do
// not shift the pages it has yet to read.
func TestHistoryPagingIsStable(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	for i := 0; i < 5; i++ {
		ts.create("Patient", `{"resourceType":"Patient"}`)
	}
	before := time.Now().UTC()
	time.Sleep(5 * time.Millisecond)
	for i := 0; i < 5; i++ {
		ts.create("Observation", `{"resourceType":"Observation","status":"final","code":{"text":"x"}}`)
	}
	page := ts.do("GET", "/_history?_count=3", "", "").json(t)
	var seen []string
	for pages := 0; pages < 10; pages++ {
		for _, e := range page["entry"].([]any) {
			seen = append(seen, e.(map[string]any)["fullUrl"].(string))
		}
		next := nextLink(t, page)
		if next == "" {
			break
		}
		if pages == 0 {
			ts.create("Patient", `{"resourceType":"Patient"}`) // arrives mid-paging
		}
		u, err := url.Parse(next)
		require.NoError(t, err)
		page = ts.do("GET", strings.TrimPrefix(u.Path, "/fhir")+"?"+u.RawQuery, "", "").json(t)
	}
	assert.Len(t, seen, 10, "each version once, the newcomer not at all")
	dupes := map[string]bool{}
	for _, s := range seen {
		assert.False(t, dupes[s], "duplicate %s", s)
		dupes[s] = true
	}

	obs := ts.do("GET", "/Observation/_history", "", "").json(t)
	assert.Len(t, obs["entry"], 5, "type history")
	since := ts.do("GET", "/_history?_since="+url.QueryEscape(before.Format(time.RFC3339Nano)), "", "").json(t)
	assert.Len(t, since["entry"], 6, "_since keeps the newer versions: 5 observations and the newcomer")
}
