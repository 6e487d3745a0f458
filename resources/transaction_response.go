package resources

import (
	"net/http"

	"github.com/fhirserver/fhirserver/outcome"
)

// responseBundle answers a transaction or batch, one entry per request
// entry, in the request's order.
func responseBundle(kind string, entries []*txEntry, o Options) ([]byte, error) {
	b := newBundle(kind)
	b.Entry = make([]entry, 0, len(entries))
	for _, e := range entries {
		b.Entry = append(b.Entry, e.response(o))
	}
	return b.encode()
}

func (e *txEntry) response(o Options) entry {
	if e.err != nil {
		oe := outcome.From(e.err)
		return entry{Response: &entryResponse{Status: statusLine(oe.Kind.Status()), Outcome: oe.OperationOutcome()}}
	}
	r := e.result
	out := entry{Response: versionResponse(r.Status, r.Version)}
	if r.Version != nil {
		out.FullURL = fullURL(o.BaseURL, r.Version.Key)
		if e.method != http.MethodGet && e.method != http.MethodHead && r.Status != http.StatusNoContent {
			out.Response.Location = locationOf(r.Version)
		}
	}
	reads := e.method == http.MethodGet
	if reads || o.Return == ReturnRepresentation {
		out.Resource = r.Body
	}
	if o.Return == ReturnOutcome && !reads {
		var warnings []outcome.Issue
		if e.res != nil {
			warnings = e.res.Warnings
		}
		out.Response.Outcome = outcome.Info("ok", warnings...)
	}
	return out
}
