package resources

import (
	"context"
	"net/url"
	"slices"
	"strconv"

	"github.com/fhirserver/fhirserver/outcome"
	"github.com/fhirserver/fhirserver/resources/access"
	"github.com/fhirserver/fhirserver/search"
	"github.com/fhirserver/fhirserver/storage"
)

// Search is StreamSearch with the page read whole into Body, for callers
// that read it themselves (operations, batch entries, jobs).
func (s *Service) Search(ctx context.Context, c access.Caller, typ string, q url.Values, o Options, compartment *storage.Key) (Result, error) {
	r, err := s.StreamSearch(ctx, c, typ, q, o, compartment)
	if err != nil {
		return r, err
	}
	return r.buffered(ctx)
}

// StreamSearch is GET [type]?params (and POST [type]/_search, and the
// compartment search [Compartment]/[id]/[type]?params when compartment is
// set). Pages are read from a snapshot of the store taken by the first
// page, so that following next and previous links gives the same result
// set however much is written meanwhile. It reads the page's keys, total
// and links; its Result streams the entries (Result.Stream), so that a
// page of a thousand resources and their includes is never held whole.
func (s *Service) StreamSearch(ctx context.Context, c access.Caller, typ string, q url.Values, o Options, compartment *storage.Key) (Result, error) {
	if typ == access.AuditEventType && compartment == nil {
		return s.searchAudit(ctx, c, q, o)
	}
	if typ == access.AuditEventType {
		return Result{}, outcome.E(outcome.NotSupported, "search AuditEvent with patient= rather than in a compartment")
	}
	if err := c.Allow(typ, access.Search); err != nil {
		return Result{}, err
	}
	parsed, err := s.search.Parse(typ, q, search.Options{Strict: o.Strict, BaseURL: o.BaseURL, Blind: s.store.BlindToken, BlindString: s.store.BlindString})
	if err != nil {
		return Result{}, err
	}
	crit := &parsed.Criteria
	if compartment != nil {
		if err := s.inCompartment(crit, *compartment); err != nil {
			return Result{}, err
		}
	}
	if limit := s.limit(c, typ, access.Search); limit != nil {
		crit.Clauses = append(crit.Clauses, limit)
	}
	p, err := s.page(ctx, crit, q, parsed.Count)
	if err != nil {
		return Result{}, err
	}
	read := s.store.SearchKeys
	if parsed.Count <= bodyChunk {
		// A page of one chunk (the default's) reads its bodies with its
		// keys: holding them costs no more than streaming them, and a
		// second round trip would be most of a small page's time.
		read = s.store.SearchSnapshot
	}
	versions, newest, err := read(ctx, *crit)
	if err != nil {
		return Result{}, err
	}
	if crit.Snapshot == 0 { // a first page: the snapshot of the pages after it
		crit.Snapshot, p.snapshot = max(newest, 1), max(newest, 1)
	}
	more := len(versions) > parsed.Count
	if more {
		if crit.Before != "" {
			versions = versions[1:] // fetched one more below the page
		} else {
			versions = versions[:parsed.Count]
		}
	}
	b := newBundle("searchset")
	if parsed.Summary == "count" {
		n, err := s.store.Count(ctx, *crit)
		if err != nil {
			return Result{}, err
		}
		b.Total = &n
		b.Link = []link{{Relation: "self", URL: searchPath(o.BaseURL, typ, compartment) + "?" + parsed.Applied.Encode()}}
		body, err := b.encode()
		return ok(body, nil), err
	}
	included, err := s.include(ctx, c, parsed.Includes, versions, crit.Snapshot)
	if err != nil {
		return Result{}, err
	}
	if b.Total, err = s.total(ctx, *crit, parsed, p, more, len(versions)); err != nil {
		return Result{}, err
	}
	b.Link = p.links(searchPath(o.BaseURL, typ, compartment), parsed, versions, more)
	page := &streamedPage{s: s, c: c, base: o.BaseURL, head: b, entries: slices.Concat(versions, included),
		matches: len(versions), matchAs: access.Search, keep: keptElements(typ, parsed)}
	return page.result(ctx)
}

// inCompartment restricts a search to the resources in a Patient's
// compartment: those whose compartment parameters point at the patient.
func (s *Service) inCompartment(crit *storage.Criteria, k storage.Key) error {
	if k.Type != "Patient" {
		return outcome.E(outcome.NotFound, "only the Patient compartment is supported")
	}
	var params []string
	for _, code := range s.search.CompartmentParams(crit.Type) {
		params = append(params, s.search.IndexCodes(crit.Type, code)...)
	}
	if crit.Type == "Patient" {
		crit.Clauses = append(crit.Clauses, func(arg func(any) string, v string) string { return v + ".id = " + arg(k.ID) })
		return nil
	}
	if len(params) == 0 {
		return outcome.E(outcome.NotFound, "%s is not in the Patient compartment", crit.Type)
	}
	crit.Clauses = append(crit.Clauses, func(arg func(any) string, v string) string {
		return "EXISTS (SELECT 1 FROM search_reference x WHERE x.type = " + v + ".type AND x.id = " + v + ".id AND x.version = " + v + ".version AND x.param = ANY(" +
			arg(params) + ") AND x.target_type = 'Patient' AND x.target_id = " + arg(k.ID) + ")"
	})
	return nil
}

// pager is where a page sits in its result set.
type pager struct {
	snapshot      int64
	after, before string
	sorted        bool // pages by offset: keyset paging follows ids only
	offset, count int
}

// page sets the snapshot and position of the page the query asks for.
func (s *Service) page(ctx context.Context, crit *storage.Criteria, q url.Values, count int) (pager, error) {
	p := pager{after: q.Get("_cursor"), before: q.Get("_before"), sorted: crit.OffsetPaged(), count: count}
	if p.sorted {
		p.after, p.before = "", ""
		if off := q.Get("_offset"); off != "" {
			n, err := strconv.Atoi(off)
			if err != nil || n < 0 || n > search.MaxOffset {
				return p, outcome.E(outcome.Invalid, "_offset is not a page of this server (at most %d)", search.MaxOffset).At("_offset")
			}
			p.offset = n
		}
	}
	snap, err := snapshotParam(q) // on a first page, 0: the search itself takes it
	if err != nil {
		return p, err
	}
	p.snapshot = snap
	crit.Snapshot, crit.After, crit.Before, crit.Offset = p.snapshot, p.after, p.before, p.offset
	crit.Limit = count + 1 // one more tells whether there is a further page
	return p, nil
}

// total is Bundle.total: counted when asked for (_total=accurate or
// estimate), known without counting when the first page holds everything.
func (s *Service) total(ctx context.Context, crit storage.Criteria, parsed search.Query, p pager, more bool, n int) (*int, error) {
	switch {
	case parsed.Total == "none":
		return nil, nil
	case parsed.Total == "accurate" || parsed.Total == "estimate":
		t, err := s.store.Count(ctx, crit)
		return &t, err
	case !more && p.after == "" && p.before == "" && p.offset == 0:
		return &n, nil
	}
	return nil, nil
}

func (p pager) links(path string, parsed search.Query, versions []storage.Version, more bool) []link {
	base := url.Values{}
	for k, v := range parsed.Applied {
		base[k] = v
	}
	base.Set("_count", strconv.Itoa(parsed.Count))
	with := func(extra ...string) string {
		v := url.Values{}
		for k, vals := range base {
			v[k] = vals
		}
		for i := 0; i+1 < len(extra); i += 2 {
			v.Set(extra[i], extra[i+1])
		}
		return path + "?" + v.Encode()
	}
	snap := strconv.FormatInt(p.snapshot, 10)
	if p.sorted {
		return p.offsetLinks(with, snap, more)
	}
	self := with()
	switch {
	case p.after != "":
		self = with("_snapshot", snap, "_cursor", p.after)
	case p.before != "":
		self = with("_snapshot", snap, "_before", p.before)
	}
	links := []link{{Relation: "self", URL: self}}
	if len(versions) == 0 {
		return links
	}
	first, last := versions[0].ID, versions[len(versions)-1].ID
	if more && p.before == "" || p.before != "" {
		links = append(links, link{Relation: "next", URL: with("_snapshot", snap, "_cursor", last)})
	}
	if p.after != "" || p.before != "" && more {
		links = append(links, link{Relation: "previous", URL: with("_snapshot", snap, "_before", first)})
	}
	return links
}

// maxIterate bounds :iterate, which could otherwise walk a whole graph.
const maxIterate = 4

// include adds what _include and _revinclude ask for to a page of
// matches: each resource once, none that is already a match, and only
// types the caller may read.
func (s *Service) include(ctx context.Context, c access.Caller, incs []search.Include, matches []storage.Version, snap int64) ([]storage.Version, error) {
	if len(incs) == 0 {
		return nil, nil
	}
	seen := map[storage.Key]bool{}
	for _, v := range matches {
		seen[v.Key] = true
	}
	incs = mergeIncludes(incs)
	var out []storage.Version
	frontier := matches
	for level := 0; level < maxIterate && len(frontier) > 0; level++ {
		var next []storage.Version
		for _, inc := range incs {
			if level > 0 && !inc.Iterate {
				continue
			}
			got, err := s.includeOne(ctx, inc, frontier, snap)
			if err != nil {
				return nil, err
			}
			for _, v := range got {
				if seen[v.Key] || c.Allow(v.Type, access.Read) != nil {
					continue
				}
				seen[v.Key] = true
				next = append(next, v)
			}
		}
		next, err := s.withinReach(ctx, c, next)
		if err != nil {
			return nil, err
		}
		out = append(out, next...)
		frontier = next
	}
	return out, nil
}

// withinReach drops the included versions the caller's limits keep out:
// a _revinclude from a shared practitioner would otherwise bring in other
// patients' records, and an _include a category the token was not given.
func (s *Service) withinReach(ctx context.Context, c access.Caller, vs []storage.Version) ([]storage.Version, error) {
	byType := map[string][]storage.Version{}
	for _, v := range vs {
		byType[v.Type] = append(byType[v.Type], v)
	}
	drop := map[storage.Key]bool{}
	for typ, group := range byType {
		limit := s.limit(c, typ, access.Read)
		if limit == nil {
			continue
		}
		passing, err := s.store.Passing(ctx, limit, group)
		if err != nil {
			return nil, err
		}
		for _, v := range group {
			drop[v.Key] = !passing[v.Key]
		}
	}
	kept := vs[:0]
	for _, v := range vs {
		if !drop[v.Key] {
			kept = append(kept, v)
		}
	}
	return kept, nil
}

// mergeIncludes folds the _include parameters that differ only in their
// reference parameter (Encounter:service-provider and Encounter:participant)
// into one, read in one query.
func mergeIncludes(incs []search.Include) []search.Include {
	var out []search.Include
	for _, inc := range incs {
		i := slices.IndexFunc(out, func(o search.Include) bool {
			return !o.Reverse && !inc.Reverse && o.Iterate == inc.Iterate && o.Source == inc.Source && o.TargetType == inc.TargetType &&
				len(o.Params) > 0 && len(inc.Params) > 0
		})
		if i < 0 {
			out = append(out, inc)
			continue
		}
		out[i].Params = append(slices.Clip(out[i].Params), inc.Params...)
	}
	return out
}

func (s *Service) includeOne(ctx context.Context, inc search.Include, from []storage.Version, snap int64) ([]storage.Version, error) {
	if inc.Reverse {
		if inc.TargetType != "" {
			from = ofType(from, inc.TargetType)
		}
		return s.store.Referencing(ctx, from, inc.Source, inc.Params, snap)
	}
	if inc.Source != "" {
		from = ofType(from, inc.Source)
	}
	return s.store.Referenced(ctx, from, inc.Params, inc.TargetType, snap)
}

func ofType(vs []storage.Version, typ string) []storage.Version {
	var out []storage.Version
	for _, v := range vs {
		if v.Type == typ {
			out = append(out, v)
		}
	}
	return out
}

// offsetLinks page a sorted search by position in the snapshot.
func (p pager) offsetLinks(with func(...string) string, snap string, more bool) []link {
	self := with()
	if p.offset > 0 {
		self = with("_snapshot", snap, "_offset", strconv.Itoa(p.offset))
	}
	links := []link{{Relation: "self", URL: self}}
	if more {
		links = append(links, link{Relation: "next", URL: with("_snapshot", snap, "_offset", strconv.Itoa(p.offset+p.count))})
	}
	if p.offset > 0 {
		links = append(links, link{Relation: "previous", URL: with("_snapshot", snap, "_offset", strconv.Itoa(max(p.offset-p.count, 0)))})
	}
	return links
}

func searchPath(base, typ string, compartment *storage.Key) string {
	if compartment != nil {
		return base + "/" + compartment.Type + "/" + compartment.ID + "/" + typ
	}
	return base + "/" + typ
}

// snapshot is the page's _snapshot, or for a first page the newest seq
// now (at least 1: an empty store's snapshot must still exclude what comes
// later).
func (s *Service) snapshot(ctx context.Context, q url.Values) (int64, error) {
	if n, err := snapshotParam(q); n != 0 || err != nil {
		return n, err
	}
	n, err := s.store.Newest(ctx)
	return max(n, 1), err
}

// snapshotParam reads the _snapshot of a following page; 0 on a first one.
func snapshotParam(q url.Values) (int64, error) {
	v := q.Get("_snapshot")
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 1 {
		return 0, outcome.E(outcome.Invalid, "_snapshot is not a page of this server").At("_snapshot")
	}
	return n, nil
}
