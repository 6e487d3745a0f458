package audit

import (
	"cmp"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirserver/fhirserver/storage"
)

// The renderer Record.JSON replaced (encoding/json over these types): the
// reference its output must equal byte for byte, since the chains hold
// those bytes and every record written before was rendered by it.

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

// referenceJSON is Record.JSON as encoding/json rendered it.
func (r Record) referenceJSON() ([]byte, error) {
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

// purpose is the purpose of use: treatment, or break-the-glass while the
// user's emergency access is in force.
func purpose(breakGlass bool) []codeable {
	if breakGlass {
		return []codeable{{Coding: []coding{{System: actReason, Code: "BTG", Display: "break the glass"}}}}
	}
	return []codeable{{Coding: []coding{{System: actReason, Code: "TREAT"}}}}
}

// Record.JSON writes what encoding/json wrote, byte for byte, for records
// of every shape and for strings holding whatever JSON escapes (quotes,
// controls, HTML, U+2028, invalid UTF-8, NUL).
func TestRecordJSONIsEncodingJSONs(t *testing.T) {
	awkward := []string{"", "plain", `q"uo\te`, "<b>&amp;</b>", "line\nbreak\ttab\r\b\f\x01\x1f\x7f", "\u2028\u2029", "caf\xc3\xa9 \xff\xfe", "nul\x00here", "😀 ünï", "\xe2\x80"}
	rnd := rand.New(rand.NewPCG(1, 2))
	pick := func() string {
		s := awkward[rnd.IntN(len(awkward))]
		if rnd.IntN(3) == 0 {
			s += awkward[rnd.IntN(len(awkward))]
		}
		return s
	}
	statuses := []int{200, 201, 204, 304, 400, 401, 403, 404, 409, 422, 499, 500, 503, 599}
	for i := range 5000 {
		r := Record{
			ID: "id" + pick(), Recorded: time.Unix(int64(rnd.IntN(2e9)), int64(rnd.IntN(1e9))), Server: pick(),
			Interaction: []string{"read", "vread", "search-type", "create", "update", "delete", "operation", pick()}[rnd.IntN(8)],
			Status:      statuses[rnd.IntN(len(statuses))],
			Client:      Client{ID: pick(), Address: pick(), UserAgent: pick()},
			BreakGlass:  rnd.IntN(2) == 0,
			Blind:       Blinder{Identifier: "http://hl7.org/fhir/sid/us-ssn"},
		}
		if rnd.IntN(2) == 0 {
			r.Action = pick()
		}
		if rnd.IntN(2) == 0 {
			r.Reason = pick()
		}
		if rnd.IntN(2) == 0 {
			r.User, r.FHIRUser = pick(), pick()
		}
		for range rnd.IntN(4) {
			r.Touched = append(r.Touched, storage.Key{Type: pick(), ID: pick()})
		}
		if rnd.IntN(3) == 0 {
			r.Search = &Search{Type: pick(), Query: []string{"", "name=" + url.QueryEscape(pick()), "a=b&c=%zz", pick()}[rnd.IntN(4)]}
		}
		got, err := r.JSON()
		require.NoError(t, err)
		want, err := r.referenceJSON()
		require.NoError(t, err)
		require.Equal(t, string(want), string(got), "record %d: %#v", i, r)
	}
	// Without an id or a time: a new id, now.
	got, err := Record{Interaction: "read", Status: 200}.JSON()
	require.NoError(t, err)
	var ev struct{ ID, Recorded string }
	require.NoError(t, json.Unmarshal(got, &ev))
	assert.Len(t, ev.ID, 36)
	assert.NotEmpty(t, ev.Recorded)
}

// BenchmarkRecordJSON: the renderer against the encoding/json one it
// replaced, on the record of a user's read.
func BenchmarkRecordJSON(b *testing.B) {
	r := Record{ID: NewID(), Recorded: time.Now(), Server: "https://ehr.example", Interaction: "read", Status: 200,
		Client: Client{ID: "app", Address: "192.0.2.7", UserAgent: "Go-http-client/1.1"}, User: "dr.house", FHIRUser: "Practitioner/p1",
		Touched: []storage.Key{{Type: "Patient", ID: "p1"}}}
	b.Run("appender", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			_, _ = r.JSON()
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			_, _ = r.referenceJSON()
		}
	})
}
