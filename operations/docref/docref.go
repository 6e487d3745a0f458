package docref

import (
	_ "embed"
	"encoding/json"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/fhirserver/fhirserver/outcome"
	"github.com/fhirserver/fhirserver/search"
)

// Definition is US Core's OperationDefinition, as published.
//
//go:embed OperationDefinition-docref.json
var Definition []byte

// CCD is the type of a C-CDA Continuity of Care Document (LOINC "Summary of
// episode note"), what $docref answers when no type is asked for.
const CCD = "http://loinc.org|34133-9"

// Doc says how this server answers the operation, for the
// CapabilityStatement, as US Core asks.
const Doc = "The DocumentReferences of the patient named, as a DocumentReference search by patient finds them " +
	"(under the same scopes and access), but those entered in error. With start or end, those whose care period " +
	"(context.period) overlaps the range; with neither, the most recent by date of the types asked for, CCD (LOINC 34133-9) " +
	"by default. type (system|code, repeated: any of them) and profile (any of them) filter. " +
	"The server generates no documents: on-demand=true returns the existing ones."

var idRE = regexp.MustCompile(`^[A-Za-z0-9\-.]{1,64}$`)

// Query turns the operation's parameters (a GET's query, or Params of a
// POST's body) into the DocumentReference search that answers it.
func Query(in url.Values) (url.Values, error) {
	patient, err := one(in, "patient")
	if err != nil {
		return nil, err
	}
	if patient == "" {
		return nil, outcome.E(outcome.Invalid, "patient: the id of the patient is required").At("patient").WithCode("required")
	}
	if !idRE.MatchString(patient) {
		return nil, outcome.E(outcome.Invalid, "patient: %q is not a resource id", patient).At("patient")
	}
	if err := onDemand(in); err != nil {
		return nil, err
	}
	q := url.Values{"patient": {patient}, "status:not": {"entered-in-error"}}
	dated, err := period(in, q)
	if err != nil {
		return nil, err
	}
	types := in["type"]
	if !dated {
		// The most recent or current document, of the CCD type by default.
		q.Set("_sort", "-date,-_lastUpdated")
		q.Set("_count", "1")
		if len(types) == 0 {
			types = []string{CCD}
		}
	} else if n := in.Get("_count"); n != "" {
		q.Set("_count", n)
	}
	if len(types) > 0 {
		q.Set("type", strings.Join(types, ","))
	}
	if p := in["profile"]; len(p) > 0 {
		q.Set("_profile", strings.Join(p, ","))
	}
	return q, nil
}

// one reads a parameter that may be given once.
func one(in url.Values, name string) (string, error) {
	if len(in[name]) > 1 {
		return "", outcome.E(outcome.Invalid, "%s may be given once", name).At(name)
	}
	return strings.TrimSpace(in.Get(name)), nil
}

// onDemand checks the on-demand flag, which changes nothing here: no
// document is generated, so those that exist are all there is.
func onDemand(in url.Values) error {
	v, err := one(in, "on-demand")
	if err == nil && v != "" && v != "true" && v != "false" {
		err = outcome.E(outcome.Invalid, "on-demand: %q is not true or false", v).At("on-demand")
	}
	return err
}

// period adds to q the care period start and end select: a document whose
// context.period overlaps [start, end), each taken at its precision. It
// says whether either was given.
func period(in url.Values, q url.Values) (bool, error) {
	var lo, hi time.Time
	for _, name := range []string{"start", "end"} {
		v, err := one(in, name)
		if err != nil {
			return false, err
		}
		if v == "" {
			continue
		}
		l, h, err := search.DateRange(v)
		if err != nil {
			return false, outcome.E(outcome.Invalid, "%s: %q is not a dateTime", name, v).At(name)
		}
		if name == "start" {
			lo = l
			// gt compares the period's end with the value's: a value one
			// microsecond (the index's precision) wide ending where start begins.
			q.Add("period", "gt"+instant(l.Add(-time.Microsecond)))
		} else {
			hi = h
			q.Add("period", "lt"+instant(h))
		}
	}
	if !lo.IsZero() && !hi.IsZero() && !hi.After(lo) {
		return false, outcome.E(outcome.Invalid, "end is before start").At("end")
	}
	return !lo.IsZero() || !hi.IsZero(), nil
}

func instant(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000Z07:00") }

// Params reads a POST's Parameters as the operation's parameters.
func Params(body []byte) (url.Values, error) {
	var p struct {
		ResourceType string      `json:"resourceType"`
		Parameter    []parameter `json:"parameter"`
	}
	if json.Unmarshal(body, &p) != nil || p.ResourceType != "Parameters" {
		return nil, outcome.E(outcome.Invalid, "$docref takes a Parameters resource")
	}
	in := url.Values{}
	for _, x := range p.Parameter {
		v, err := x.value()
		if err != nil {
			return nil, err
		}
		if v != "" {
			in.Add(x.Name, v)
		}
	}
	return in, nil
}

// parameter is one of Parameters.parameter, with the value types $docref's
// parameters take.
type parameter struct {
	Name           string  `json:"name"`
	ValueID        *string `json:"valueId"`
	ValueString    *string `json:"valueString"`
	ValueDateTime  *string `json:"valueDateTime"`
	ValueDate      *string `json:"valueDate"`
	ValueInstant   *string `json:"valueInstant"`
	ValueBoolean   *bool   `json:"valueBoolean"`
	ValueCanonical *string `json:"valueCanonical"`
	ValueURI       *string `json:"valueUri"`
	ValueCoding    *struct {
		System string `json:"system"`
		Code   string `json:"code"`
	} `json:"valueCoding"`
}

// value is the parameter as the query would carry it; "" for a parameter
// the operation does not take.
func (x parameter) value() (string, error) {
	var v *string
	switch x.Name {
	case "patient":
		v = first(x.ValueID, x.ValueString)
	case "start", "end":
		v = first(x.ValueDateTime, x.ValueDate, x.ValueInstant)
	case "profile":
		v = first(x.ValueCanonical, x.ValueURI)
	case "on-demand":
		if x.ValueBoolean != nil {
			return map[bool]string{true: "true", false: "false"}[*x.ValueBoolean], nil
		}
	case "type":
		if c := x.ValueCoding; c != nil && c.Code != "" {
			return token(c.System, c.Code), nil
		}
	default:
		return "", nil
	}
	if v == nil {
		return "", outcome.E(outcome.Invalid, "%s: the value is missing or of a type %s does not take", x.Name, x.Name).At("Parameters.parameter." + x.Name)
	}
	return *v, nil
}

func first(vs ...*string) *string {
	for _, v := range vs {
		if v != nil {
			return v
		}
	}
	return nil
}

// token writes a Coding as a search token, its commas escaped: a comma
// would separate alternatives.
func token(system, code string) string {
	esc := strings.NewReplacer(`\`, `\\`, `,`, `\,`)
	if system == "" {
		return esc.Replace(code)
	}
	return esc.Replace(system) + "|" + esc.Replace(code)
}
