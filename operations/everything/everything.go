package everything

import (
	"context"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/fhirserver/fhirserver/operations"
	"github.com/fhirserver/fhirserver/outcome"
	"github.com/fhirserver/fhirserver/profiles"
	"github.com/fhirserver/fhirserver/resources"
	"github.com/fhirserver/fhirserver/resources/access"
	"github.com/fhirserver/fhirserver/search"
	"github.com/fhirserver/fhirserver/storage"
)

// Operation is GET Patient/$everything and Patient/[id]/$everything,
// read through res.
func Operation(res *resources.Service) *operations.Operation {
	return &operations.Operation{
		Code: "everything", Types: []string{"Patient"}, Levels: operations.Type | operations.Instance,
		Methods:   operations.Get,
		Canonical: "http://hl7.org/fhir/OperationDefinition/Patient-everything",
		Doc: "The patient (every patient the token may read, at type level), everything in its compartment and the resources those point at, " +
			"with start and end (care dates), _since, _type and _count, one page at a time from a snapshot.",
		Who: "a token that reads Patient; each type held to what the token's search of it returns (scopes, a patient's reach, narrowed scopes, care relationships); a token limited to one patient gets that patient only.",
		Params: []operations.Param{
			{Name: "start", Use: "in", Min: "0", Max: "1", Type: "date", Doc: "care dates from"},
			{Name: "end", Use: "in", Min: "0", Max: "1", Type: "date", Doc: "care dates to"},
			{Name: "_since", Use: "in", Min: "0", Max: "1", Type: "instant", Doc: "changed since"},
			{Name: "_type", Use: "in", Min: "0", Max: "*", Type: "code", Doc: "the types to return"},
			{Name: "_count", Use: "in", Min: "0", Max: "1", Type: "integer", Doc: "entries a page (default 100)"},
			{Name: "return", Use: "out", Min: "1", Max: "1", Type: "Bundle", Doc: "a searchset"},
		},
		Handler: func(ctx context.Context, r *operations.Request) (resources.Result, error) {
			return run(ctx, res, r.Caller, r.ID, r.Query, r.Options.BaseURL)
		},
	}
}

// run answers $everything for patientID (every patient when empty): the
// patient, everything in its compartment, and what those resources point
// at, with _since, _type and _count, one page at a time from a snapshot.
func run(ctx context.Context, res *resources.Service, c access.Caller, patientID string, q url.Values, base string) (resources.Result, error) {
	patientID, err := res.EverythingPatient(ctx, c, patientID)
	if err != nil {
		return resources.Result{}, err
	}
	e, wanted, count, err := parse(res, patientID, q)
	if err != nil {
		return resources.Result{}, err
	}
	page, err := res.EverythingPage(ctx, c, &e, wanted, count, q)
	if err != nil {
		return resources.Result{}, err
	}
	var total *int
	if !page.More && e.AfterType == "" && !e.Extras {
		n := len(page.Versions)
		total = &n
	}
	return res.Searchset(ctx, c, base, page.Versions, total, links(base, patientID, q, e, page)...)
}

const defaultCount = 100

// parse reads _count, _since, the care range (start, end) and _type.
func parse(res *resources.Service, patientID string, q url.Values) (e storage.Everything, wanted map[string]bool, count int, err error) {
	e = storage.Everything{PatientID: patientID}
	count = defaultCount
	if v := q.Get("_count"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return e, nil, 0, outcome.E(outcome.Invalid, "_count must be a positive integer").At("_count")
		}
		count = min(n, search.MaxCount)
	}
	if v := q.Get("_since"); v != "" {
		lo, _, err := search.DateRange(v)
		if err != nil || !strings.Contains(v, "T") {
			return e, nil, 0, outcome.E(outcome.Invalid, "_since must be an instant").At("_since")
		}
		e.Since = lo
	}
	if err := careRange(res, &e, q); err != nil {
		return e, nil, 0, err
	}
	if v := q.Get("_type"); v != "" {
		wanted = map[string]bool{}
		for _, t := range strings.Split(v, ",") {
			if !profiles.IsResourceType(t) {
				return e, nil, 0, outcome.E(outcome.Invalid, "_type: %q is not a resource type", t).At("_type")
			}
			wanted[t] = true
		}
	}
	return e, wanted, count, nil
}

// careRange reads start and end, the range of care dates of the R4
// operation: a resource of a type with a care date is kept when one of
// its care dates overlaps the range, each end taken at its precision.
func careRange(res *resources.Service, e *storage.Everything, q url.Values) error {
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
	e.CareTypes, e.CareParams = res.CareDateParams()
	return nil
}

// links are the page's self link and, when more follow, its next: the
// parameters kept, and the snapshot and position of the page.
func links(base, patientID string, q url.Values, e storage.Everything, page resources.EverythingPage) [][2]string {
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
		self = cloneWith(kept, "_snapshot", strconv.FormatInt(e.Snapshot, 10), "_cursor", resources.EverythingCursor(e.Extras, e.AfterType, e.AfterID))
	}
	out := [][2]string{{"self", withQuery(path, self)}}
	if page.More && len(page.Versions) > 0 {
		last := page.Versions[len(page.Versions)-1]
		next := cloneWith(kept, "_snapshot", strconv.FormatInt(e.Snapshot, 10), "_cursor", resources.EverythingCursor(page.LastExtra, last.Type, last.ID))
		out = append(out, [2]string{"next", withQuery(path, next)})
	}
	return out
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
