package fhirserver

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/fhirserver/fhirserver/outcome"
	"github.com/fhirserver/fhirserver/profiles"
	"github.com/fhirserver/fhirserver/resources"
	"github.com/fhirserver/fhirserver/storage"
)

// Auditor makes an audit record durable before it returns (the storage
// package's AuditLog). There is no switch that turns auditing off: the
// server cannot be built without one.
type Auditor interface {
	Record(ctx context.Context, event []byte) error
}

// The codes of an AuditEvent, after IHE's Basic Audit Log Patterns.
const (
	auditEventType  = "http://terminology.hl7.org/CodeSystem/audit-event-type"
	restInteraction = "http://hl7.org/fhir/restful-interaction"
	entityType      = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
	participation   = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
	actReason       = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
	userAgentExt    = "http://fhirserver.dev/fhir/StructureDefinition/user-agent"
)

type coding struct {
	System  string `json:"system"`
	Code    string `json:"code"`
	Display string `json:"display,omitempty"`
}

type codeable struct {
	Coding []coding `json:"coding"`
}

type reference struct {
	Reference  string      `json:"reference,omitempty"`
	Identifier *identifier `json:"identifier,omitempty"`
	Display    string      `json:"display,omitempty"`
}

type identifier struct {
	System string `json:"system,omitempty"`
	Value  string `json:"value"`
}

type auditAgent struct {
	Type      *codeable   `json:"type,omitempty"`
	Who       reference   `json:"who"`
	AltID     string      `json:"altId,omitempty"`
	Requestor bool        `json:"requestor"`
	Network   *network    `json:"network,omitempty"`
	Extension []extension `json:"extension,omitempty"`
}

type network struct {
	Address string `json:"address"`
	Type    string `json:"type"`
}

type extension struct {
	URL         string `json:"url"`
	ValueString string `json:"valueString"`
}

type auditEntity struct {
	What  reference `json:"what"`
	Type  coding    `json:"type"`
	Query string    `json:"query,omitempty"`
}

type auditEvent struct {
	ResourceType   string        `json:"resourceType"`
	ID             string        `json:"id"`
	Type           coding        `json:"type"`
	Subtype        []coding      `json:"subtype"`
	Action         string        `json:"action"`
	Recorded       string        `json:"recorded"`
	Outcome        string        `json:"outcome"`
	OutcomeDesc    string        `json:"outcomeDesc,omitempty"`
	PurposeOfEvent []codeable    `json:"purposeOfEvent"`
	Agent          []auditAgent  `json:"agent"`
	Source         auditSource   `json:"source"`
	Entity         []auditEntity `json:"entity,omitempty"`
}

type auditSource struct {
	Observer reference `json:"observer"`
	Type     []coding  `json:"type"`
}

// interactionOf names a FHIR route's interaction (restful-interaction
// code) and AuditEvent action.
func interactionOf(method, route string) (code, action string) {
	route = strings.TrimPrefix(route, "/fhir")
	switch {
	case strings.Contains(route, "$"):
		return "operation", "E"
	case method == http.MethodPost && route == "":
		return "transaction", "E"
	case strings.HasSuffix(route, "/_search"):
		return "search-type", "E"
	case strings.Contains(route, "_history") && strings.HasSuffix(route, ":vid"):
		return "vread", "R"
	case strings.Contains(route, "_history"):
		return "history", "R"
	case method == http.MethodGet && (route == "/:type" || strings.HasSuffix(route, ":compartmentType")):
		return "search-type", "E"
	case method == http.MethodGet:
		return "read", "R"
	case method == http.MethodPost:
		return "create", "C"
	case method == http.MethodPut:
		return "update", "U"
	case method == http.MethodPatch:
		return "patch", "U"
	case method == http.MethodDelete:
		return "delete", "D"
	}
	return strings.ToLower(method), "E"
}

// auditRecord writes the audit record of a FHIR request.
func (a *app) auditRecord(c echo.Context, status int, touched []storage.Key) error {
	body, err := a.auditEvent(c, status, touched)
	if err != nil {
		return err
	}
	return a.audit.Record(c.Request().Context(), body)
}

// auditEvent is the audit record of a FHIR request: who asked (the user,
// the client, from where), what it touched, how it ended.
func (a *app) auditEvent(c echo.Context, status int, touched []storage.Key) ([]byte, error) {
	r := c.Request()
	code, action := interactionOf(r.Method, c.Path())
	caller := callerOf(c)
	ev := auditEvent{
		ResourceType: "AuditEvent", ID: newAuditID(),
		Type:    coding{System: auditEventType, Code: "rest", Display: "RESTful Operation"},
		Subtype: []coding{{System: restInteraction, Code: code}},
		Action:  action, Recorded: time.Now().UTC().Format(time.RFC3339Nano),
		Outcome:        auditOutcome(status),
		PurposeOfEvent: purposeOf(caller),
		Source:         auditSource{Observer: reference{Display: a.cfg.BaseURL}, Type: []coding{{System: "http://terminology.hl7.org/CodeSystem/security-source-type", Code: "4", Display: "Application Server"}}},
	}
	if status >= 400 {
		ev.OutcomeDesc = http.StatusText(status)
	}
	client := auditAgent{
		Type:      &codeable{Coding: []coding{{System: "http://dicom.nema.org/resources/ontology/DCM", Code: "110150", Display: "Application"}}},
		Who:       reference{Identifier: &identifier{System: a.cfg.BaseURL + "/auth/clients", Value: caller.ID}},
		Requestor: caller.User == "",
		Network:   &network{Address: c.RealIP(), Type: "2"},
		Extension: []extension{{URL: userAgentExt, ValueString: printable(r.UserAgent())}},
	}
	if caller.ID == "" {
		client.Who = reference{Display: "unauthenticated"}
	}
	ev.Agent = append(ev.Agent, client)
	if caller.User != "" {
		user := auditAgent{
			Type:      &codeable{Coding: []coding{{System: participation, Code: "IRCP", Display: "information recipient"}}},
			Who:       reference{Identifier: &identifier{System: a.cfg.BaseURL + "/auth/users", Value: caller.User}},
			AltID:     caller.User,
			Requestor: true,
		}
		if caller.FHIRUser != "" {
			user.Who.Reference = caller.FHIRUser
		}
		ev.Agent = append(ev.Agent, user)
	}
	for _, k := range touched {
		ev.Entity = append(ev.Entity, auditEntity{What: reference{Reference: printable(k.Type + "/" + k.ID)}, Type: coding{System: entityType, Code: "2", Display: "System Object"}})
	}
	typ, query := c.Param("type"), r.URL.RawQuery
	ran, isSearch := c.Get(searchRunKey).(searchRun)
	if isSearch {
		typ, query = ran.typ, ran.query.Encode()
	}
	if code == "search-type" || isSearch {
		ev.Entity = append(ev.Entity, auditEntity{What: reference{Display: "query"}, Type: coding{System: entityType, Code: "2", Display: "System Object"},
			Query: a.encodeQuery(typ, query)})
	}
	return json.Marshal(ev)
}

// writeRecorder gives a write's transaction the request's audit record,
// so that the write commits with it (resources.Recorder).
type writeRecorder struct {
	a         *app
	c         echo.Context
	committed bool
}

const recorderKey = "fhir.recorder"

func (w *writeRecorder) Record(status int, touched []storage.Key) ([]byte, error) {
	return w.a.auditEvent(w.c, status, touched)
}

func (w *writeRecorder) Committed() { w.committed = true }

// recordWrites has the writes of a request that may write commit with
// their audit record. Reads need none: their record is durable before
// their answer leaves (respond).
func (a *app) recordWrites(c echo.Context) {
	if m := c.Request().Method; m == http.MethodGet || m == http.MethodHead {
		return
	}
	w := &writeRecorder{a: a, c: c}
	c.Set(recorderKey, w)
	c.SetRequest(c.Request().WithContext(resources.WithRecorder(c.Request().Context(), w)))
}

// auditedInTx reports whether the request's writes committed with its
// audit record, which then needs no second one. An operation's answer
// still gets its own: its writes are recorded with them, and what it
// answers about (the patient of a $break-glass) with the answer.
func auditedInTx(c echo.Context) bool {
	w, _ := c.Get(recorderKey).(*writeRecorder)
	return w != nil && w.committed && !strings.Contains(c.Path(), "$")
}

// searchRunKey holds the search an operation is answered by (searchRun):
// the audit record keeps its query as it keeps a search's.
const searchRunKey = "fhir.search"

type searchRun struct {
	typ   string
	query url.Values
}

// auditOutcome is the AuditEvent outcome of an HTTP status: 0 success, 4
// a refusal or a client's mistake, 8 a server failure.
func auditOutcome(status int) string {
	switch {
	case status < 400:
		return "0"
	case status < 500:
		return "4"
	}
	return "8"
}

// encodeQuery keeps a search's parameters as the AuditEvent's base64
// query, each value the database keeps only encrypted (an SSN, an
// address, a sensitive code) by its blind index value: the audit log must
// not hold what the database does not.
func (a *app) encodeQuery(typ, q string) string {
	values, err := url.ParseQuery(q)
	if err != nil {
		return base64.StdEncoding.EncodeToString([]byte("(unparsable query withheld)"))
	}
	changed := false
	for name, vs := range values {
		param, _, _ := strings.Cut(name, ":")
		for i, v := range vs {
			parts := strings.Split(v, ",")
			for j, p := range parts {
				parts[j] = a.blindValue(typ, param, p)
			}
			if b := strings.Join(parts, ","); b != v {
				vs[i], changed = b, true
			}
		}
	}
	if changed {
		q = values.Encode()
	}
	return base64.StdEncoding.EncodeToString([]byte(q))
}

// blindValue is a search value as the audit log may keep it.
func (a *app) blindValue(typ, param, v string) string {
	if a.d.BlindString != nil {
		if b, ok := a.d.BlindString(typ, param, v, false); ok {
			return b
		}
	}
	if a.d.Blind == nil {
		return v
	}
	system, code, hasSystem := strings.Cut(v, "|")
	if !hasSystem {
		system, code = "", v
	}
	if b := a.d.Blind(typ, param, system, code); b != code {
		if hasSystem {
			return system + "|" + b
		}
		return b
	}
	return a.blindSSN(v)
}

// ssnShape is how a US SSN is written, with or without its dashes.
var ssnShape = regexp.MustCompile(`^[0-9]{3}-?[0-9]{2}-?[0-9]{4}$`)

// blindSSN keeps a value that may be an SSN by the blind form the index
// holds for one, in any parameter (identifier, a chain's, :of-type's): a
// value searched without a system, or under a type, is an SSN as likely
// as anything else. A value under a system of its own (urn:mrn|…) is not
// one. An auditor who holds a suspected SSN finds its searches by that
// blind value (BlindToken with the SSN system); nobody reads one back.
func (a *app) blindSSN(v string) string {
	i := strings.LastIndexByte(v, '|')
	prefix, code := v[:i+1], v[i+1:]
	if !ssnShape.MatchString(code) || strings.Count(prefix, "|") == 1 && prefix != "|" && prefix != resources.SSNSystem+"|" {
		return v
	}
	if a.d.Blind != nil {
		if b := a.d.Blind("Patient", "identifier", resources.SSNSystem, code); b != code {
			return prefix + b
		}
	}
	return prefix + "(withheld)"
}

func newAuditID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// errAuditUnavailable is what a client gets when its request cannot be
// audited: nothing it asked for is sent.
var errAuditUnavailable = outcome.E(outcome.Transient, "the request could not be audited, so it was not answered; try again")

// keyOfPath is the resource a failed request named, if it named one.
func keyOfPath(c echo.Context) []storage.Key {
	if t, id := c.Param("type"), c.Param("id"); t != "" && id != "" {
		return []storage.Key{{Type: printable(t), ID: printable(id)}}
	}
	// A refused operation on an instance names what it was for: the
	// patient of a $break-glass, the session of a telehealth move.
	if id := c.Param("id"); id != "" {
		if typ, op, ok := strings.Cut(strings.TrimPrefix(c.Path(), "/fhir/"), "/:id/"); ok && strings.HasPrefix(op, "$") && profiles.IsResourceType(typ) {
			return []storage.Key{{Type: typ, ID: id}}
		}
	}
	return nil
}

// purposeOf is the purpose of use: treatment, or break-the-glass while the
// user's emergency access is in force.
func purposeOf(c resources.Caller) []codeable {
	if c.BreakGlass {
		return []codeable{{Coding: []coding{{System: actReason, Code: "BTG", Display: "break the glass"}}}}
	}
	return []codeable{{Coding: []coding{{System: actReason, Code: "TREAT"}}}}
}
