package resources

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/fhirserver/fhirserver/outcome"
	"github.com/fhirserver/fhirserver/resources/access"
	"github.com/fhirserver/fhirserver/search"
	"github.com/fhirserver/fhirserver/storage"
	auditlog "github.com/fhirserver/fhirserver/storage/audit"
)

func (s *Service) readAudit(ctx context.Context, c access.Caller, id string) (Result, error) {
	if err := c.AllowAudit(access.Read); err != nil {
		return Result{}, err
	}
	event, err := s.auditLog().Event(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return Result{}, outcome.E(outcome.NotFound, "AuditEvent/%s is not known", id)
	}
	if err != nil {
		return Result{}, err
	}
	r := ok(event, nil)
	r.Keys = []storage.Key{{Type: access.AuditEventType, ID: id}}
	return r, nil
}

// searchAudit answers AuditEvent searches, newest first: date (with ge,
// gt, le, lt or a plain date), entity and patient, altid, action, outcome;
// _count, _summary=count and _total as on every other type.
func (s *Service) searchAudit(ctx context.Context, c access.Caller, q url.Values, o Options) (Result, error) {
	if err := c.AllowAudit(access.Search); err != nil {
		return Result{}, err
	}
	as, err := auditQuery(q, o)
	if err != nil {
		return Result{}, err
	}
	b := newBundle("searchset")
	b.Link = []link{{Relation: "self", URL: o.BaseURL + "/AuditEvent?" + as.applied.Encode()}}
	if as.summary == "count" {
		return s.countAudit(ctx, b, as.Query)
	}
	rows, err := s.auditLog().Events(ctx, as.Query)
	if err != nil {
		return Result{}, err
	}
	more := len(rows) > as.Limit-1
	if more {
		rows = rows[:as.Limit-1]
		b.Link = append(b.Link, link{Relation: "next", URL: auditNext(o.BaseURL, as.applied, rows[len(rows)-1])})
	}
	r := Result{Status: 200}
	for _, row := range rows {
		id := idOf(row.Event)
		b.Entry = append(b.Entry, entry{FullURL: o.BaseURL + "/AuditEvent/" + id, Resource: row.Event, Search: &entrySearch{Mode: "match"}})
		r.Keys = append(r.Keys, storage.Key{Type: access.AuditEventType, ID: id})
	}
	if b.Total, err = s.auditTotal(ctx, as, more, len(rows)); err != nil {
		return Result{}, err
	}
	r.Body, err = b.encode()
	return r, err
}

// auditLog is the audit log the AuditEvent interactions read.
func (s *Service) auditLog() *auditlog.Store { return auditlog.New(s.store) }

// countAudit answers _summary=count: the total and no entries.
func (s *Service) countAudit(ctx context.Context, b *bundle, aq auditlog.Query) (Result, error) {
	n, err := s.auditLog().Count(ctx, aq)
	if err != nil {
		return Result{}, err
	}
	b.Total = &n
	body, err := b.encode()
	return ok(body, nil), err
}

// auditTotal is Bundle.total as other searches give it: counted when
// asked for, known without counting when the first page holds everything.
func (s *Service) auditTotal(ctx context.Context, as auditSearch, more bool, n int) (*int, error) {
	switch {
	case as.total == "none":
		return nil, nil
	case as.total == "accurate" || as.total == "estimate":
		t, err := s.auditLog().Count(ctx, as.Query)
		return &t, err
	case !more && as.After == nil:
		return &n, nil
	}
	return nil, nil
}

func auditNext(base string, applied url.Values, last auditlog.Row) string {
	next := url.Values{}
	for k, v := range applied {
		next[k] = v
	}
	next.Set("_cursor", fmt.Sprintf("%d.%d.%d.%d", last.Recorded.UnixMicro(), last.Stripe, last.Link, last.Position))
	return base + "/AuditEvent?" + next.Encode()
}

// auditSearch is an AuditEvent search as its parameters ask.
type auditSearch struct {
	auditlog.Query
	applied url.Values // the parameters applied, for the links
	summary string     // _summary: count, or "" for whole events
	total   string     // _total, "" when not asked
}

func auditQuery(q url.Values, o Options) (auditSearch, error) {
	as := auditSearch{Query: auditlog.Query{Limit: search.DefaultCount + 1}, applied: url.Values{}}
	for name, values := range q {
		for _, v := range values {
			// A POST form's values reach here unchecked by the HTTP layer;
			// PostgreSQL refuses NUL and invalid UTF-8.
			if !search.WellFormed(name) || !search.WellFormed(v) {
				return as, outcome.E(outcome.Invalid, "the query holds a NUL byte or is not UTF-8")
			}
			applied, err := as.read(name, v, o)
			if err != nil {
				return as, err
			}
			if applied {
				as.applied.Add(name, v)
			}
		}
	}
	return as, nil
}

// read applies one parameter, and says whether it was.
func (as *auditSearch) read(name, v string, o Options) (bool, error) {
	bad := func(format string, args ...any) error {
		return outcome.E(outcome.Invalid, "%s: "+format, append([]any{name}, args...)...).At(name)
	}
	switch name {
	case "_count":
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return false, bad("a positive integer")
		}
		as.Limit = min(n, search.MaxCount) + 1
	case "_summary":
		return as.readSummary(v, o)
	case "_total":
		if v != "none" && v != "estimate" && v != "accurate" {
			return false, bad("_total must be none, estimate or accurate")
		}
		as.total = v
	case "date":
		if err := dateBound(&as.Query, v); err != nil {
			return false, bad("%v", err)
		}
	case "entity", "patient":
		ref := strings.TrimPrefix(v, o.BaseURL+"/")
		if name == "patient" && !strings.Contains(ref, "/") {
			ref = "Patient/" + ref
		}
		as.Entities = append(as.Entities, ref)
	case "altid":
		as.AltID = v
	case "action":
		as.Action = v
	case "outcome":
		as.Outcome = v
	case "_cursor":
		after, err := parseAuditCursor(v)
		if err != nil {
			return false, bad("not a cursor of this server")
		}
		as.After = after
		return false, nil
	default:
		if o.Strict {
			return false, outcome.E(outcome.Invalid, "search parameter %q is not supported on AuditEvent", name).At(name).WithCode("not-supported")
		}
		return false, nil
	}
	return true, nil
}

// readSummary applies _summary=count and false; the audit log's events are
// not summarized, so the other values are not applied.
func (as *auditSearch) readSummary(v string, o Options) (bool, error) {
	switch v {
	case "count":
		as.summary = v
		return true, nil
	case "false":
		return true, nil
	case "true", "text", "data":
		if o.Strict {
			return false, outcome.E(outcome.Invalid, "_summary=%s is not supported on AuditEvent", v).At("_summary").WithCode("not-supported")
		}
		return false, nil
	}
	return false, outcome.E(outcome.Invalid, "_summary must be true, text, data, count or false").At("_summary")
}

func dateBound(aq *auditlog.Query, v string) error {
	prefix := ""
	if len(v) > 2 && strings.Contains("ge gt le lt eq", v[:2]) && (v[2] >= '0' && v[2] <= '9') {
		prefix, v = v[:2], v[2:]
	}
	lo, hi, err := search.DateRange(v)
	if err != nil {
		return err
	}
	switch prefix {
	case "ge":
		aq.From = later(aq.From, lo)
	case "gt":
		aq.From = later(aq.From, hi)
	case "le":
		aq.To = earlier(aq.To, hi)
	case "lt":
		aq.To = earlier(aq.To, lo)
	default:
		aq.From, aq.To = later(aq.From, lo), earlier(aq.To, hi)
	}
	return nil
}

func later(a, b time.Time) time.Time {
	if a.IsZero() || b.After(a) {
		return b
	}
	return a
}

func earlier(a, b time.Time) time.Time {
	if a.IsZero() || b.Before(a) {
		return b
	}
	return a
}

// parseAuditCursor reads recorded.stripe.link.position, the last row of
// the previous page: recorded in microseconds within the years 1 to 9999,
// each part within its column's range. A value outside them is no row's
// position: it wrapped around (in int16(stripe), in the driver's encoding
// of a time beyond PostgreSQL's) and named some other page.
func parseAuditCursor(v string) (*auditlog.Row, error) {
	parts := strings.Split(v, ".")
	if len(parts) != 4 {
		return nil, errors.New("malformed")
	}
	var n [4]int64
	for i, bits := range []int{64, 16, 64, 32} {
		x, err := strconv.ParseInt(parts[i], 10, bits)
		if err != nil {
			return nil, err
		}
		n[i] = x
	}
	recorded := time.UnixMicro(n[0]).UTC()
	if y := recorded.Year(); y < 1 || y > 9999 {
		return nil, errors.New("out of range")
	}
	return &auditlog.Row{Recorded: recorded, Stripe: int16(n[1]), Link: n[2], Position: int32(n[3])}, nil
}

// idOf reads a stored AuditEvent's id without decoding the rest.
func idOf(event []byte) string {
	const key = `"id":"`
	i := strings.Index(string(event), key)
	if i < 0 {
		return ""
	}
	rest := string(event[i+len(key):])
	if j := strings.IndexByte(rest, '"'); j >= 0 {
		return rest[:j]
	}
	return ""
}
