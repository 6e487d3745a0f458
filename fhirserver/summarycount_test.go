package fhirserver_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirserver/fhirserver/smart"
)

// auditorToken is a token of a user of role auditor, whose app may read
// the audit log.
func auditorToken(t *testing.T, ts *testServer) string {
	t.Helper()
	ctx := context.Background()
	_, err := ts.smart.RegisterClient(ctx, smart.Client{ID: "audit-app", Public: true, RedirectURIs: []string{appRedirect},
		Scopes: []string{"user/AuditEvent.rs"}})
	require.NoError(t, err)
	require.NoError(t, ts.smart.AddUser(ctx, smart.User{Username: "auditor", Password: password, Role: "auditor"}))
	return userTokenFor(t, ts, "audit-app", "auditor", "user/AuditEvent.rs")
}

// _summary=count answers the number of matches and nothing else, and
// _total=accurate counts them on any page, on every type the server
// supports, the audit log included.
func TestSummaryCountAndTotalOnEveryType(t *testing.T) {
	t.Parallel()
	ts := launchServer(t)
	auditor := auditorToken(t, ts)
	type search struct{ typ, filter, token string }
	var searches []search
	for _, r := range metadata(t, ts).Rest[0].Resource {
		if r.Type != "AuditEvent" {
			searches = append(searches, search{r.Type, "", ts.token})
		}
	}
	// Reading the log adds to it: the filter keeps these searches' own
	// records out of what they count.
	searches = append(searches, search{"AuditEvent", "patient=p1&", auditor})
	require.Greater(t, len(searches), 140)
	for _, s := range searches {
		t.Run(s.typ, func(t *testing.T) {
			get := func(query string) searchset {
				r := ts.doWith(s.token, "GET", "/"+s.typ+"?"+s.filter+query, "", "")
				require.Equal(t, 200, r.Status, "%s: %s", query, r.Body)
				var b searchset
				require.NoError(t, json.Unmarshal(r.Body, &b))
				assert.Equal(t, "searchset", b.Type)
				return b
			}
			n := len(get("_count=1000").Entry)
			count := get("_summary=count")
			require.NotNil(t, count.Total, "_summary=count")
			assert.Equal(t, n, *count.Total, "_summary=count")
			assert.Empty(t, count.Entry, "_summary=count")
			accurate := get("_total=accurate&_count=1")
			require.NotNil(t, accurate.Total, "_total=accurate")
			assert.Equal(t, n, *accurate.Total, "_total=accurate")
			assert.Len(t, accurate.Entry, min(n, 1))
		})
	}
	assert.Equal(t, 2, *ts.searchBundle("/Patient?_total=accurate&_count=1").Total, "counted beyond the page")
	for _, q := range []string{"_summary=all", "_total=some"} {
		assertOutcome(t, ts.doWith(auditor, "GET", "/AuditEvent?"+q, "", ""), 400, "invalid", q[:strings.Index(q, "=")])
	}
}
