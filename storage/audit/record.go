package audit

import (
	"cmp"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/fhirserver/fhirserver/storage"
)

// Record is the audit record of one FHIR interaction, after IHE's Basic
// Audit Log Patterns: who asked (the client, from where, and the user
// behind it), for what purpose, what it touched and how it ended. JSON
// renders it as the AuditEvent the chain keeps.
type Record struct {
	// ID is the AuditEvent's id; a new one when empty.
	ID string
	// Recorded is when it happened; now when zero.
	Recorded time.Time
	// Server is the server's base URL: the observer, and the namespace of
	// the client and user ids.
	Server string
	// Interaction is the restful-interaction code (read, vread, history,
	// search-type, create, update, patch, delete, transaction, operation);
	// the action (R, C, U, D, E) follows from it.
	Interaction string
	// Action, when set, is the action an operation declares, in place of
	// the interaction's (E).
	Action string
	// Status is the HTTP status the request was answered with: the outcome.
	Status int
	// Reason says why a request was refused, as the client was told (the
	// access decision's reason): it names types, roles and scopes, never a
	// value of a record.
	Reason string
	// Client is the application that asked.
	Client Client
	// User is the user behind a launched app (their login), FHIRUser
	// their fhirUser reference; both empty for a client on its own.
	User, FHIRUser string
	// BreakGlass says the user's emergency access was in force: the
	// purpose of use is then break-the-glass, else treatment.
	BreakGlass bool
	// Touched are the resources returned or touched.
	Touched []storage.Key
	// Search is the search the request ran, if it ran one.
	Search *Search
	// Blind keeps what the database holds only encrypted out of the
	// record's search query.
	Blind Blinder
}

// Client is the application that made a request.
type Client struct {
	// ID is its client id; empty when unauthenticated.
	ID        string
	Address   string // the caller's IP address
	UserAgent string
}

// Search is a search as the request ran it: on Type with Query (URL
// encoded).
type Search struct {
	Type, Query string
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

type agent struct {
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

type entity struct {
	What  reference `json:"what"`
	Type  coding    `json:"type"`
	Query string    `json:"query,omitempty"`
}

type event struct {
	ResourceType   string     `json:"resourceType"`
	ID             string     `json:"id"`
	Type           coding     `json:"type"`
	Subtype        []coding   `json:"subtype"`
	Action         string     `json:"action"`
	Recorded       string     `json:"recorded"`
	Outcome        string     `json:"outcome"`
	OutcomeDesc    string     `json:"outcomeDesc,omitempty"`
	PurposeOfEvent []codeable `json:"purposeOfEvent"`
	Agent          []agent    `json:"agent"`
	Source         source     `json:"source"`
	Entity         []entity   `json:"entity,omitempty"`
}

type source struct {
	Observer reference `json:"observer"`
	Type     []coding  `json:"type"`
}

// JSON renders the record as a FHIR AuditEvent.
func (r Record) JSON() ([]byte, error) {
	id, at := r.ID, r.Recorded
	if id == "" {
		id = NewID()
	}
	if at.IsZero() {
		at = time.Now()
	}
	ev := event{
		ResourceType: "AuditEvent", ID: id,
		Type:    coding{System: auditEventType, Code: "rest", Display: "RESTful Operation"},
		Subtype: []coding{{System: restInteraction, Code: r.Interaction}},
		Action:  cmp.Or(r.Action, Action(r.Interaction)), Recorded: at.UTC().Format(time.RFC3339Nano),
		Outcome:        Outcome(r.Status),
		PurposeOfEvent: purpose(r.BreakGlass),
		Source:         source{Observer: reference{Display: r.Server}, Type: []coding{{System: "http://terminology.hl7.org/CodeSystem/security-source-type", Code: "4", Display: "Application Server"}}},
	}
	if r.Status >= 400 {
		ev.OutcomeDesc = http.StatusText(r.Status)
		if r.Reason != "" {
			ev.OutcomeDesc += ": " + printable(r.Reason)
		}
	}
	client := agent{
		Type:      &codeable{Coding: []coding{{System: "http://dicom.nema.org/resources/ontology/DCM", Code: "110150", Display: "Application"}}},
		Who:       reference{Identifier: &identifier{System: r.Server + "/auth/clients", Value: r.Client.ID}},
		Requestor: r.User == "",
		Network:   &network{Address: r.Client.Address, Type: "2"},
		Extension: []extension{{URL: userAgentExt, ValueString: printable(r.Client.UserAgent)}},
	}
	if r.Client.ID == "" {
		client.Who = reference{Display: "unauthenticated"}
	}
	ev.Agent = append(ev.Agent, client)
	if r.User != "" {
		user := agent{
			Type:      &codeable{Coding: []coding{{System: participation, Code: "IRCP", Display: "information recipient"}}},
			Who:       reference{Identifier: &identifier{System: r.Server + "/auth/users", Value: r.User}},
			AltID:     r.User,
			Requestor: true,
		}
		if r.FHIRUser != "" {
			user.Who.Reference = r.FHIRUser
		}
		ev.Agent = append(ev.Agent, user)
	}
	for _, k := range r.Touched {
		ev.Entity = append(ev.Entity, entity{What: reference{Reference: printable(k.Type + "/" + k.ID)}, Type: coding{System: entityType, Code: "2", Display: "System Object"}})
	}
	if r.Search != nil {
		ev.Entity = append(ev.Entity, entity{What: reference{Display: "query"}, Type: coding{System: entityType, Code: "2", Display: "System Object"},
			Query: r.Blind.query(r.Search.Type, r.Search.Query)})
	}
	return json.Marshal(ev)
}

// Action is the AuditEvent action of a restful interaction: R for a read,
// C, U and D for the writes, E for everything else (searches,
// transactions, operations).
func Action(interaction string) string {
	switch interaction {
	case "read", "vread", "history":
		return "R"
	case "create":
		return "C"
	case "update", "patch":
		return "U"
	case "delete":
		return "D"
	}
	return "E"
}

// Outcome is the AuditEvent outcome of an HTTP status: 0 success, 4 a
// refusal or a client's mistake, 8 a server failure.
func Outcome(status int) string {
	switch {
	case status < 400:
		return "0"
	case status < 500:
		return "4"
	}
	return "8"
}

// purpose is the purpose of use: treatment, or break-the-glass while the
// user's emergency access is in force.
func purpose(breakGlass bool) []codeable {
	if breakGlass {
		return []codeable{{Coding: []coding{{System: actReason, Code: "BTG", Display: "break the glass"}}}}
	}
	return []codeable{{Coding: []coding{{System: actReason, Code: "TREAT"}}}}
}

// printable is s as a record may hold it: valid UTF-8 without NUL (each
// replaced by U+FFFD), whatever a client sent.
func printable(s string) string {
	if utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 {
		return s
	}
	return strings.ToValidUTF8(strings.ReplaceAll(s, "\x00", "\uFFFD"), "\uFFFD")
}

// NewID is a new AuditEvent id, a random (version 4) UUID.
func NewID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
