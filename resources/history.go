package resources

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/fhirserver/fhirserver/outcome"
	"github.com/fhirserver/fhirserver/resources/access"
	"github.com/fhirserver/fhirserver/search"
	"github.com/fhirserver/fhirserver/storage"
)

// HistoryParams are the parameters of a history interaction. Type and ID
// narrow it from system to type to instance.
type HistoryParams struct {
	Type, ID string
	Query    url.Values
}

// History is GET [type]/[id]/_history, [type]/_history or _history: the
// versions newest first, paged with next links that stay correct while new
// versions arrive; streamed as a search's page is (Result.Stream).
func (s *Service) History(ctx context.Context, c access.Caller, p HistoryParams, o Options) (Result, error) {
	if p.Type == access.AuditEventType {
		return Result{}, outcome.E(outcome.NotSupported, "the audit log has no history: search it by date")
	}
	if p.ID != "" && c.PatientOf(p.Type, access.History) != "" {
		// An instance's history is within reach when its newest version is.
		if err := c.Allow(p.Type, access.History); err != nil {
			return Result{}, err
		}
		v, err := s.store.Read(ctx, storage.Key{Type: p.Type, ID: p.ID})
		if err != nil && !errors.Is(err, storage.ErrGone) {
			return Result{}, readError(err, storage.Key{Type: p.Type, ID: p.ID}, &v)
		}
		if err := s.inReach(ctx, c, access.History, v); err != nil {
			return Result{}, err
		}
	} else if err := c.AllowUnlimited(orAll(p.Type), access.History); err != nil {
		return Result{}, err
	}
	h, err := historyQuery(p)
	if err != nil {
		return Result{}, err
	}
	read := s.store.HistoryKeys
	if h.Limit <= bodyChunk {
		read = s.store.History // one chunk: its bodies with its keys, as a search's
	}
	versions, err := read(ctx, h)
	if err != nil {
		return Result{}, err
	}
	b := newBundle("history")
	b.Link = historyLinks(o.BaseURL, p, h, versions)
	page := &streamedPage{s: s, c: c, base: o.BaseURL, head: b, entries: versions, matches: len(versions), matchAs: access.History, history: true}
	return page.result(ctx)
}

func orAll(typ string) string {
	if typ == "" {
		return "*"
	}
	return typ
}

func historyQuery(p HistoryParams) (storage.HistoryQuery, error) {
	h := storage.HistoryQuery{Type: p.Type, ID: p.ID, Limit: search.DefaultCount}
	if v := p.Query.Get("_count"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return h, outcome.E(outcome.Invalid, "_count must be a positive integer").At("_count")
		}
		h.Limit = min(n, search.MaxCount)
	}
	if v := p.Query.Get("_since"); v != "" {
		t, err := parseInstant(v)
		if err != nil {
			return h, outcome.E(outcome.Invalid, "_since must be an instant such as 2024-01-01T00:00:00Z").At("_since")
		}
		h.Since = t
	}
	if v := p.Query.Get("_cursor"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			return h, outcome.E(outcome.Invalid, "malformed paging cursor").At("_cursor")
		}
		h.Before = n
	}
	return h, nil
}

// parseInstant accepts a FHIR instant, and a dateTime with less precision.
func parseInstant(v string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04Z07:00", "2006-01-02", "2006-01", "2006"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t, nil
		}
	}
	return time.Time{}, strconv.ErrSyntax
}

func historyEntry(base string, v storage.Version) entry {
	e := entry{FullURL: fullURL(base, v.Key), Resource: v.Resource,
		Request:  &entryRequest{Method: v.Method, URL: v.Type + "/" + v.ID},
		Response: versionResponse(http.StatusOK, &v)}
	switch {
	case v.Deleted:
		e.Response.Status = statusLine(http.StatusNoContent)
	case v.Method == http.MethodPost:
		e.Request.URL = v.Type
		e.Response.Status = statusLine(http.StatusCreated)
	}
	return e
}

func historyLinks(base string, p HistoryParams, h storage.HistoryQuery, versions []storage.Version) []link {
	path := base
	if p.Type != "" {
		path += "/" + p.Type
	}
	if p.ID != "" {
		path += "/" + p.ID
	}
	path += "/_history"
	q := url.Values{}
	q.Set("_count", strconv.Itoa(h.Limit))
	if since := p.Query.Get("_since"); since != "" {
		q.Set("_since", since)
	}
	self := url.Values{}
	for k, v := range q {
		self[k] = v
	}
	if h.Before > 0 {
		self.Set("_cursor", strconv.FormatInt(h.Before, 10))
	}
	links := []link{{Relation: "self", URL: path + "?" + self.Encode()}}
	if len(versions) == h.Limit {
		q.Set("_cursor", strconv.FormatInt(versions[len(versions)-1].Seq, 10))
		links = append(links, link{Relation: "next", URL: path + "?" + q.Encode()})
	}
	return links
}
