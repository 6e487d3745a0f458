package resources

import (
	"context"
	"net/url"
	"strconv"

	"github.com/fhirserver/fhirserver/search"
)

// Search is GET [type]?params. Until the search issue lands it selects by
// _id and identifier only; the self link shows what was applied.
func (s *Service) Search(ctx context.Context, c Caller, typ string, q url.Values, o Options) (Result, error) {
	if err := c.allow(typ, Search); err != nil {
		return Result{}, err
	}
	parsed, err := search.Parse(typ, q, o.Strict)
	if err != nil {
		return Result{}, err
	}
	crit := parsed.Criteria
	crit.After = q.Get("_cursor")
	crit.Limit = parsed.Count + 1 // one more tells whether there is a next page
	versions, err := s.store.Search(ctx, crit)
	if err != nil {
		return Result{}, err
	}
	b := newBundle("searchset")
	more := len(versions) > parsed.Count
	if more {
		versions = versions[:parsed.Count]
	}
	for _, v := range versions {
		b.Entry = append(b.Entry, entry{FullURL: fullURL(o.BaseURL, v.Key), Resource: v.Resource, Search: &entrySearch{Mode: "match"}})
	}
	if !more && crit.After == "" {
		n := len(versions)
		b.Total = &n
	}
	self := url.Values{}
	for k, v := range parsed.Applied {
		self[k] = v
	}
	self.Set("_count", itoa(parsed.Count))
	path := o.BaseURL + "/" + typ
	if crit.After != "" {
		self.Set("_cursor", crit.After)
	}
	b.Link = []link{{Relation: "self", URL: path + "?" + self.Encode()}}
	if more {
		self.Set("_cursor", versions[len(versions)-1].ID)
		b.Link = append(b.Link, link{Relation: "next", URL: path + "?" + self.Encode()})
	}
	body, err := b.encode()
	if err != nil {
		return Result{}, err
	}
	return ok(body, nil), nil
}

func itoa(n int) string { return strconv.Itoa(n) }
