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

func (b *bundle) encode() ([]byte, error) { return encode(b) }

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
