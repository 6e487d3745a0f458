package resources

import (
	"context"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/fhirserver/fhirserver/outcome"
	"github.com/fhirserver/fhirserver/profiles"
	"github.com/fhirserver/fhirserver/search"
	"github.com/fhirserver/fhirserver/storage"
)

// Everything is Patient/[id]/$everything (every patient when id is empty):
// the patient, everything in its compartment, and what those resources
// point at, with _since, _type and _count, one page at a time from a
// snapshot. Only types the caller may read are returned, each held to
// what the caller's search of it would return (everythingKeep).
func (s *Service) Everything(ctx context.Context, c Caller, patientID string, q url.Values, o Options) (Result, error) {
	if err := c.allow("Patient", Read); err != nil {
		return Result{}, err
	}
	if p := c.patient("Patient", Read); p != "" && patientID == "" {
		patientID = p // a token held to one patient: that patient's everything
	}
	if patientID != "" {
		if _, err := s.Read(ctx, c, storage.Key{Type: "Patient", ID: patientID}); err != nil {
			return Result{}, err
		}
	}
	e, count, err := s.everythingQuery(ctx, c, patientID, q, o)
	if err != nil {
		return Result{}, err
	}
	versions, lastExtra, more, err := s.everythingEntries(ctx, e, count)
	if err != nil {
		return Result{}, err
	}
	if err := s.redactGroups(ctx, s.store, c, Read, versions); err != nil {
		return Result{}, err
	}
	b := newBundle("searchset")
	for _, v := range versions {
		b.Entry = append(b.Entry, entry{FullURL: fullURL(o.BaseURL, v.Key), Resource: v.Resource, Search: &entrySearch{Mode: "match"}})
	}
	if !more && e.AfterType == "" && !e.Extras {
		n := len(versions)
		b.Total = &n
	}
	b.Link = everythingLinks(o.BaseURL, patientID, q, e, versions, lastExtra, more)
	body, err := b.encode()
	r := ok(body, nil)
	r.Keys = keysOf(versions)
	return r, err
}

// everythingEntries reads up to count entries from e's position on: the
// members, and the extras once the members are done, on the same page. It
// says whether the last entry is an extra and whether more follow.
func (s *Service) everythingEntries(ctx context.Context, e storage.Everything, count int) (vs []storage.Version, lastExtra, more bool, err error) {
	e.Limit = count + 1
	if vs, err = s.store.EverythingPage(ctx, e); err != nil || e.Extras || len(vs) > count {
		more = len(vs) > count
		return vs[:min(len(vs), count)], e.Extras, more, err
	}
	x := e
	x.Extras, x.AfterType, x.AfterID, x.Limit = true, "", "", count-len(vs)+1
	extras, err := s.store.EverythingPage(ctx, x)
	if err != nil {
		return nil, false, false, err
	}
	more = len(vs)+len(extras) > count
	extras = extras[:min(len(extras), count-len(vs))]
	return append(vs, extras...), len(extras) > 0, more, nil
}

const everythingCount = 100

func (s *Service) everythingQuery(ctx context.Context, c Caller, patientID string, q url.Values, o Options) (storage.Everything, int, error) {
	e := storage.Everything{PatientID: patientID}
	count := everythingCount
	if v := q.Get("_count"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return e, 0, outcome.E(outcome.Invalid, "_count must be a positive integer").At("_count")
		}
		count = min(n, search.MaxCount)
	}
	if v := q.Get("_since"); v != "" {
		lo, _, err := search.DateRange(v)
		if err != nil || !strings.Contains(v, "T") {
			return e, 0, outcome.E(outcome.Invalid, "_since must be an instant").At("_since")
		}
		e.Since = lo
	}
	if err := s.careRange(&e, q); err != nil {
		return e, 0, err
	}
	var wanted map[string]bool
	if v := q.Get("_type"); v != "" {
		wanted = map[string]bool{}
		for _, t := range strings.Split(v, ",") {
			if !profiles.IsResourceType(t) {
				return e, 0, outcome.E(outcome.Invalid, "_type: %q is not a resource type", t).At("_type")
			}
			wanted[t] = true
		}
	}
	for _, t := range profiles.ResourceTypes() {
		if (wanted == nil || wanted[t]) && c.allow(t, Read) == nil {
			e.Types = append(e.Types, t)
		}
	}
	keep, err := s.everythingKeep(c, e.Types)
	if err != nil {
		return e, 0, err
	}
	e.Keep = keep
	e.LinkTypes, e.LinkParams = s.linkTypes, s.linkParams
	if err := s.everythingPage(ctx, &e, q, o); err != nil {
		return e, 0, err
	}
	return e, count, nil
}

// everythingKeep holds each type of $everything to exactly what this
// caller's searches of it would give (and its reads, as for an _include):
// the Patient read that opens $everything says nothing of the other
// types, and a token may read patients at user level but Observations
// only through a patient/ scope, for the patient in context; such a type
// is held to that patient's reach whichever patient is asked for, and a
// type granted through narrowed scopes to their queries. Types held to a
// patient's reach alone share one condition, so that a token held to one
// patient for every type adds one reach to the query, not one per type.
func (s *Service) everythingKeep(c Caller, types []string) (storage.KeyClause, error) {
	var parts []storage.KeyClause
	byPatient := map[string][]string{}
	var patients []string
	for _, t := range types {
		is := []Interaction{Read}
		if c.allow(t, Search) == nil {
			is = append(is, Search)
		}
		narrowed, patient := false, ""
		for _, i := range is {
			narrowed = narrowed || len(c.filters(t, i)) > 0
			if p := c.patient(t, i); p != "" {
				patient = p
			}
		}
		if !narrowed {
			if patient != "" {
				if byPatient[patient] == nil {
					patients = append(patients, patient)
				}
				byPatient[patient] = append(byPatient[patient], t)
			}
			continue
		}
		var limits []storage.KeyClause
		for _, i := range is {
			limit, err := s.limit(c, t, i)
			if err != nil {
				return nil, err
			}
			if limit != nil {
				limits = append(limits, limit)
			}
		}
		typ := t
		parts = append(parts, func(arg func(any) string, v string) string {
			held := make([]string, len(limits))
			for i, l := range limits {
				held[i] = "(" + l(arg, v) + ")"
			}
			return v + ".type <> " + arg(typ) + "::text OR (" + strings.Join(held, " AND ") + ")"
		})
	}
	for _, p := range patients {
		reach, held := s.reach(p).Clause(), byPatient[p]
		parts = append(parts, func(arg func(any) string, v string) string {
			return "NOT " + v + ".type = ANY(" + arg(held) + "::text[]) OR " + reach(arg, v)
		})
	}
	if len(parts) == 0 {
		return nil, nil
	}
	return func(arg func(any) string, v string) string {
		all := make([]string, len(parts))
		for i, p := range parts {
			all[i] = "(" + p(arg, v) + ")"
		}
		return strings.Join(all, " AND ")
	}, nil
}

// careDates names, for the compartment's types without a "date" date
// parameter (or whose "date" is not when the care happened), the one that
// dates the care the resource records; types with neither (Patient,
// Coverage, Group…) have no care date.
var careDates = map[string]string{
	"Basic": "created", "ChargeItem": "occurrence", "Claim": "created", "ClaimResponse": "created",
	"Communication": "sent", "CommunicationRequest": "occurrence", "Condition": "onset-date",
	"CoverageEligibilityRequest": "created", "CoverageEligibilityResponse": "created",
	"DetectedIssue": "identified", "DeviceRequest": "event-date", "DocumentManifest": "created",
	"ExplanationOfBenefit": "created", "Goal": "start-date", "ImagingStudy": "started", "Media": "created",
	"MedicationAdministration": "effective-time", "MedicationRequest": "authoredon", "MedicationDispense": "whenhandedover",
	"MedicationStatement": "effective", "NutritionOrder": "datetime", "Provenance": "recorded",
	"QuestionnaireResponse": "authored", "RequestGroup": "authored", "ServiceRequest": "occurrence",
	"Specimen": "collected", "Task": "period", "VisionPrescription": "datewritten",
}

// careRange reads start and end, the range of care dates of the R4
// operation: a resource of a type with a care date is kept when one of
// its care dates overlaps the range, each end taken at its precision.
func (s *Service) careRange(e *storage.Everything, q url.Values) error {
	for _, bound := range []struct {
		name string
		set  func(lo, hi time.Time)
	}{{"start", func(lo, _ time.Time) { e.CareFrom = lo }}, {"end", func(_, hi time.Time) { e.CareTo = hi }}} {
		if v := q.Get(bound.name); v != "" {
			lo, hi, err := search.DateRange(v)
			if err != nil {
				return outcome.E(outcome.Invalid, "%s must be a date", bound.name).At(bound.name)
			}
			bound.set(lo, hi)
		}
	}
	if e.CareFrom.IsZero() && e.CareTo.IsZero() {
		return nil
	}
	for _, t := range s.search.Types() {
		code := careDates[t]
		if p := s.search.Param(t, "date"); code == "" && p != nil && p.Type == "date" {
			code = "date"
		}
		if code == "" || len(s.search.CompartmentParams(t)) == 0 {
			continue
		}
		for _, ic := range s.search.IndexCodes(t, code) {
			e.CareTypes, e.CareParams = append(e.CareTypes, t), append(e.CareParams, ic)
		}
	}
	return nil
}

func (s *Service) everythingPage(ctx context.Context, e *storage.Everything, q url.Values, o Options) error {
	if err := everythingCursor(e, q.Get("_cursor")); err != nil {
		return err
	}
	snap, err := s.snapshot(ctx, q)
	e.Snapshot = snap
	return err
}

// everythingCursor reads the position a following page of $everything
// starts after: [x:]Type/id; "" on a first page.
func everythingCursor(e *storage.Everything, v string) error {
	if v == "" {
		return nil
	}
	v, e.Extras = strings.CutPrefix(v, extrasCursor)
	typ, id, ok := strings.Cut(v, "/")
	if !ok || !profiles.IsResourceType(typ) {
		return outcome.E(outcome.Invalid, "_cursor is not a page of this server").At("_cursor")
	}
	e.AfterType, e.AfterID = typ, id
	return nil
}

// extrasCursor marks a cursor in the extras: types never contain a colon.
const extrasCursor = "x:"

func everythingLinks(base, patientID string, q url.Values, e storage.Everything, versions []storage.Version, lastExtra, more bool) []link {
	path := base + "/Patient/$everything"
	if patientID != "" {
		path = base + "/Patient/" + patientID + "/$everything"
	}
	kept := url.Values{}
	for _, k := range []string{"_count", "_since", "_type", "start", "end"} {
		if v := q.Get(k); v != "" {
			kept.Set(k, v)
		}
	}
	self := kept
	if e.AfterType != "" || e.Extras {
		self = cloneWith(kept, "_snapshot", strconv.FormatInt(e.Snapshot, 10), "_cursor", cursor(e.Extras, e.AfterType, e.AfterID))
	}
	links := []link{{Relation: "self", URL: withQuery(path, self)}}
	if more && len(versions) > 0 {
		last := versions[len(versions)-1]
		next := cloneWith(kept, "_snapshot", strconv.FormatInt(e.Snapshot, 10), "_cursor", cursor(lastExtra, last.Type, last.ID))
		links = append(links, link{Relation: "next", URL: withQuery(path, next)})
	}
	return links
}

func cursor(extra bool, typ, id string) string {
	if extra {
		return extrasCursor + typ + "/" + id
	}
	return typ + "/" + id
}

func cloneWith(v url.Values, kv ...string) url.Values {
	out := url.Values{}
	for k, vals := range v {
		out[k] = vals
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out.Set(kv[i], kv[i+1])
	}
	return out
}

func withQuery(path string, v url.Values) string {
	if len(v) == 0 {
		return path
	}
	return path + "?" + v.Encode()
}
