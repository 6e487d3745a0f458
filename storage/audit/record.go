package audit

import (
	"cmp"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"strconv"
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

// JSON renders the record as a FHIR AuditEvent: the bytes encoding/json
// rendered from the AuditEvent's structure before (the golden files and
// TestRecordJSONIsEncodingJSONs hold it to them), appended by hand, which
// costs a fraction of the reflection's time and allocations on every
// audited request.
func (r Record) JSON() ([]byte, error) {
	id, at := r.ID, r.Recorded
	if id == "" {
		id = NewID()
	}
	if at.IsZero() {
		at = time.Now()
	}
	b := make([]byte, 0, 1536)
	b = append(b, `{"resourceType":"AuditEvent","id":`...)
	b = appendString(b, id)
	b = append(b, `,"type":{"system":"`+auditEventType+`","code":"rest","display":"RESTful Operation"},"subtype":[{"system":"`+restInteraction+`","code":`...)
	b = appendString(b, r.Interaction)
	b = append(b, `}],"action":`...)
	b = appendString(b, cmp.Or(r.Action, Action(r.Interaction)))
	b = append(b, `,"recorded":`...)
	b = appendString(b, at.UTC().Format(time.RFC3339Nano))
	b = append(b, `,"outcome":`...)
	b = appendString(b, Outcome(r.Status))
	if r.Status >= 400 {
		desc := http.StatusText(r.Status)
		if r.Reason != "" {
			desc += ": " + printable(r.Reason)
		}
		if desc != "" {
			b = append(b, `,"outcomeDesc":`...)
			b = appendString(b, desc)
		}
	}
	if r.BreakGlass {
		b = append(b, `,"purposeOfEvent":[{"coding":[{"system":"`+actReason+`","code":"BTG","display":"break the glass"}]}]`...)
	} else {
		b = append(b, `,"purposeOfEvent":[{"coding":[{"system":"`+actReason+`","code":"TREAT"}]}]`...)
	}
	// The client.
	b = append(b, `,"agent":[{"type":{"coding":[{"system":"http://dicom.nema.org/resources/ontology/DCM","code":"110150","display":"Application"}]},"who":`...)
	if r.Client.ID == "" {
		b = append(b, `{"display":"unauthenticated"}`...)
	} else {
		b = append(b, `{"identifier":{"system":`...)
		b = appendString(b, r.Server+"/auth/clients")
		b = append(b, `,"value":`...)
		b = appendString(b, r.Client.ID)
		b = append(b, `}}`...)
	}
	b = append(b, `,"requestor":`...)
	b = strconv.AppendBool(b, r.User == "")
	b = append(b, `,"network":{"address":`...)
	b = appendString(b, r.Client.Address)
	b = append(b, `,"type":"2"},"extension":[{"url":"`+userAgentExt+`","valueString":`...)
	b = appendString(b, printable(r.Client.UserAgent))
	b = append(b, `}]}`...)
	// The user behind a launched app.
	if r.User != "" {
		b = append(b, `,{"type":{"coding":[{"system":"`+participation+`","code":"IRCP","display":"information recipient"}]},"who":{`...)
		if r.FHIRUser != "" {
			b = append(b, `"reference":`...)
			b = appendString(b, r.FHIRUser)
			b = append(b, ',')
		}
		b = append(b, `"identifier":{"system":`...)
		b = appendString(b, r.Server+"/auth/users")
		b = append(b, `,"value":`...)
		b = appendString(b, r.User)
		b = append(b, `}},"altId":`...)
		b = appendString(b, r.User)
		b = append(b, `,"requestor":true}`...)
	}
	b = append(b, `],"source":{"observer":{`...)
	if r.Server != "" {
		b = append(b, `"display":`...)
		b = appendString(b, r.Server)
	}
	b = append(b, `},"type":[{"system":"http://terminology.hl7.org/CodeSystem/security-source-type","code":"4","display":"Application Server"}]}`...)
	const objectType = `,"type":{"system":"` + entityType + `","code":"2","display":"System Object"}`
	sep := `,"entity":[`
	for _, k := range r.Touched {
		b = append(b, sep...)
		sep = ","
		b = append(b, `{"what":{`...)
		if ref := printable(k.Type + "/" + k.ID); ref != "" {
			b = append(b, `"reference":`...)
			b = appendString(b, ref)
		}
		b = append(b, '}')
		b = append(b, objectType...)
		b = append(b, '}')
	}
	if r.Search != nil {
		b = append(b, sep...)
		sep = ","
		b = append(b, `{"what":{"display":"query"}`+objectType...)
		if q := r.Blind.query(r.Search.Type, r.Search.Query); q != "" {
			b = append(b, `,"query":`...)
			b = appendString(b, q)
		}
		b = append(b, '}')
	}
	if sep == "," {
		b = append(b, ']')
	}
	return append(b, '}'), nil
}

// appendString appends s as a JSON string exactly as encoding/json writes
// it: HTML's <, > and & escaped, as are control characters, U+2028 and
// U+2029, and each invalid UTF-8 byte replaced by U+FFFD.
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRuneInString(s[i:])
		if c == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if c == '\u2028' || c == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[c&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
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
