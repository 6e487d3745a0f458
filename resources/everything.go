package resources

import (
	"context"
	"net/url"
	"strings"

	"github.com/fhirserver/fhirserver/outcome"
	"github.com/fhirserver/fhirserver/profiles"
	"github.com/fhirserver/fhirserver/resources/access"
	"github.com/fhirserver/fhirserver/storage"
)

// The reading side of Patient/$everything (operations/everything, which
// owns its parameters, links and answer): who is asked for, and one page
// of the compartment and what it points at, from a snapshot. Only types
// the caller may read are returned, each held to what the caller's search
// of it would return (everythingKeep).

// EverythingPatient is the patient $everything is for: patientID, or for
// a token held to one patient that patient when none is named. It refuses
// a caller that may not read patients, and a patient the caller may not
// read.
func (s *Service) EverythingPatient(ctx context.Context, c access.Caller, patientID string) (string, error) {
	if err := c.Allow("Patient", access.Read); err != nil {
		return "", err
	}
	if p := c.PatientOf("Patient", access.Read); p != "" && patientID == "" {
		patientID = p // a token held to one patient: that patient's everything
	}
	if patientID != "" {
		if _, err := s.Read(ctx, c, storage.Key{Type: "Patient", ID: patientID}); err != nil {
			return "", err
		}
	}
	return patientID, nil
}

// EverythingPage is one page of $everything: its entries (without their
// bodies: Searchset reads them as it writes the page), whether the
// last of them is one the compartment points at from outside it (an
// extra), and whether more follow.
type EverythingPage struct {
	Versions        []storage.Version
	LastExtra, More bool
}

// EverythingPage reads up to count entries of e (its patient, since and
// care range set) of the types in wanted (nil: every type) that c may
// read, from the position and snapshot q's _cursor and _snapshot name;
// e is left with the types, position and snapshot read.
func (s *Service) EverythingPage(ctx context.Context, c access.Caller, e *storage.Everything, wanted map[string]bool, count int, q url.Values) (EverythingPage, error) {
	for _, t := range profiles.ResourceTypes() {
		if (wanted == nil || wanted[t]) && c.Allow(t, access.Read) == nil {
			e.Types = append(e.Types, t)
		}
	}
	keep, err := s.everythingKeep(c, e.Types)
	if err != nil {
		return EverythingPage{}, err
	}
	e.Keep = keep
	e.LinkTypes, e.LinkParams = s.linkTypes, s.linkParams
	if err := s.everythingPage(ctx, e, q); err != nil {
		return EverythingPage{}, err
	}
	versions, lastExtra, more, err := s.everythingEntries(ctx, *e, count)
	if err != nil {
		return EverythingPage{}, err
	}
	return EverythingPage{Versions: versions, LastExtra: lastExtra, More: more}, nil
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

// everythingKeep holds each type of $everything to exactly what this
// caller's searches of it would give (and its reads, as for an _include):
// the Patient read that opens $everything says nothing of the other
// types, and a token may read patients at user level but Observations
// only through a patient/ scope, for the patient in context; such a type
// is held to that patient's reach whichever patient is asked for, and a
// type granted through narrowed scopes to their queries. Types held to a
// patient's reach alone share one condition, so that a token held to one
// patient for every type adds one reach to the query, not one per type.
func (s *Service) everythingKeep(c access.Caller, types []string) (storage.KeyClause, error) {
	var parts []storage.KeyClause
	byPatient := map[string][]string{}
	var patients []string
	for _, t := range types {
		is := []access.Interaction{access.Read}
		if c.Allow(t, access.Search) == nil {
			is = append(is, access.Search)
		}
		narrowed, patient := false, ""
		for _, i := range is {
			narrowed = narrowed || len(c.FiltersOf(t, i)) > 0
			if p := c.PatientOf(t, i); p != "" {
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
			if limit := s.limit(c, t, i); limit != nil {
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

// CareDateParams are the (type, index code) pairs of the care dates of
// the compartment's types: what $everything's start and end are checked
// against (storage.Everything's CareTypes and CareParams).
func (s *Service) CareDateParams() (types, params []string) {
	for _, t := range s.search.Types() {
		code := careDates[t]
		if p := s.search.Param(t, "date"); code == "" && p != nil && p.Type == "date" {
			code = "date"
		}
		if code == "" || len(s.search.CompartmentParams(t)) == 0 {
			continue
		}
		for _, ic := range s.search.IndexCodes(t, code) {
			types, params = append(types, t), append(params, ic)
		}
	}
	return types, params
}

func (s *Service) everythingPage(ctx context.Context, e *storage.Everything, q url.Values) error {
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

// EverythingCursor is the _cursor of a page of $everything that starts
// after typ/id, an extra or one of the compartment.
func EverythingCursor(extra bool, typ, id string) string {
	if extra {
		return extrasCursor + typ + "/" + id
	}
	return typ + "/" + id
}
