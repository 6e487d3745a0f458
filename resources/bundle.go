package resources

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/fhirserver/fhirserver/storage"
)

type link struct {
	Relation string `json:"relation"`
	URL      string `json:"url"`
}

type entryRequest struct {
	Method string `json:"method"`
	URL    string `json:"url"`
}

type entryResponse struct {
	Status       string          `json:"status"`
	Location     string          `json:"location,omitempty"`
	Etag         string          `json:"etag,omitempty"`
	LastModified string          `json:"lastModified,omitempty"`
	Outcome      json.RawMessage `json:"outcome,omitempty"`
}

type entrySearch struct {
	Mode string `json:"mode"`
}

type entry struct {
	FullURL  string          `json:"fullUrl,omitempty"`
	Resource json.RawMessage `json:"resource,omitempty"`
	Search   *entrySearch    `json:"search,omitempty"`
	Request  *entryRequest   `json:"request,omitempty"`
	Response *entryResponse  `json:"response,omitempty"`
}

type bundle struct {
	ResourceType string  `json:"resourceType"`
	ID           string  `json:"id"`
	Type         string  `json:"type"`
	Timestamp    string  `json:"timestamp,omitempty"`
	Total        *int    `json:"total,omitempty"`
	Link         []link  `json:"link,omitempty"`
	Entry        []entry `json:"entry,omitempty"`
}

func newBundle(typ string) *bundle {
	return &bundle{ResourceType: "Bundle", ID: newID(), Type: typ}
}

// encode writes the Bundle by hand, splicing each resource in as it is:
// every resource put in a bundle is valid JSON already (jsonb text from the
// database, or this package's own encoding), and encoding/json would scan
// and compact every byte of them again, half the CPU of a search.
func (b *bundle) encode() ([]byte, error) {
	size := 256
	for _, e := range b.Entry {
		size += len(e.Resource) + len(e.FullURL) + 64
	}
	out := b.appendHead(make([]byte, 0, size))
	if len(b.Entry) > 0 {
		out = append(out, `,"entry":[`...)
		for i := range b.Entry {
			if i > 0 {
				out = append(out, ',')
			}
			out = b.Entry[i].append(out)
		}
		out = append(out, ']')
	}
	return append(out, '}'), nil
}

// appendHead writes the Bundle up to its entries, unclosed: a streamed
// page (page.go) writes it before it reads any of their bodies.
func (b *bundle) appendHead(out []byte) []byte {
	out = append(out, `{"resourceType":`...)
	out = appendString(out, b.ResourceType)
	out = appendMember(out, "id", b.ID)
	out = appendMember(out, "type", b.Type)
	if b.Timestamp != "" {
		out = appendMember(out, "timestamp", b.Timestamp)
	}
	if b.Total != nil {
		out = strconv.AppendInt(append(out, `,"total":`...), int64(*b.Total), 10)
	}
	if len(b.Link) > 0 {
		out = append(out, `,"link":[`...)
		for i, l := range b.Link {
			if i > 0 {
				out = append(out, ',')
			}
			out = appendString(append(out, `{"relation":`...), l.Relation)
			out = append(appendMember(out, "url", l.URL), '}')
		}
		out = append(out, ']')
	}
	return out
}

// append writes the entry's members in the order of its struct.
func (e *entry) append(out []byte) []byte {
	first := len(out) + 1
	out = append(out, '{')
	member := func(name string) {
		if len(out) > first {
			out = append(out, ',')
		}
		out = append(append(append(out, '"'), name...), `":`...)
	}
	if e.FullURL != "" {
		member("fullUrl")
		out = appendString(out, e.FullURL)
	}
	if len(e.Resource) > 0 {
		member("resource")
		out = append(out, e.Resource...)
	}
	if e.Search != nil {
		member("search")
		out = append(appendString(append(out, `{"mode":`...), e.Search.Mode), '}')
	}
	if e.Request != nil {
		member("request")
		out = appendString(append(out, `{"method":`...), e.Request.Method)
		out = append(appendMember(out, "url", e.Request.URL), '}')
	}
	if r := e.Response; r != nil {
		member("response")
		out = appendString(append(out, `{"status":`...), r.Status)
		for _, m := range [...][2]string{{"location", r.Location}, {"etag", r.Etag}, {"lastModified", r.LastModified}} {
			if m[1] != "" {
				out = appendMember(out, m[0], m[1])
			}
		}
		if len(r.Outcome) > 0 {
			out = append(append(out, `,"outcome":`...), r.Outcome...)
		}
		out = append(out, '}')
	}
	return append(out, '}')
}

// appendMember writes ,"name":"value".
func appendMember(out []byte, name, value string) []byte {
	out = append(append(append(out, `,"`...), name...), `":`...)
	return appendString(out, value)
}

func fullURL(base string, k storage.Key) string { return base + "/" + k.Type + "/" + k.ID }

// statusLine is the Bundle.entry.response.status form: "201 Created".
func statusLine(code int) string { return strconv.Itoa(code) + " " + http.StatusText(code) }

// versionResponse describes a written or read version in an entry response.
func versionResponse(status int, v *storage.Version) *entryResponse {
	r := &entryResponse{Status: statusLine(status)}
	if v != nil {
		r.Etag = etag(v.Version)
		r.LastModified = Instant(v.LastUpdated)
	}
	return r
}

// locationOf is the version-specific relative URL of v.
func locationOf(v *storage.Version) string {
	return v.Type + "/" + v.ID + "/_history/" + strconv.FormatInt(v.Version, 10)
}
