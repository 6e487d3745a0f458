package resources

import (
	"strconv"
	"time"

	"github.com/fhirserver/fhirserver/storage"
)

// Instant formats a time as a FHIR instant at the precision stored.
func Instant(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.999999Z07:00") }

// stamp sets id, meta.versionId and meta.lastUpdated on a decoded resource
// and encodes it. Everything else the client sent is kept: numbers are
// json.Number, so decimals keep their digits.
func stamp(obj map[string]any, id string, version int64, at time.Time) ([]byte, error) {
	obj["id"] = id
	meta, _ := obj["meta"].(map[string]any)
	if meta == nil {
		meta = map[string]any{}
	}
	meta["versionId"] = strconv.FormatInt(version, 10)
	meta["lastUpdated"] = Instant(at)
	obj["meta"] = meta
	return encode(obj)
}

// identifiers extracts the Identifier system/value pairs of a resource for
// the identifier index. identifier is a list on most types, single on some.
func identifiers(obj map[string]any) []storage.Identifier {
	var out []storage.Identifier
	add := func(v any) {
		m, _ := v.(map[string]any)
		value, _ := m["value"].(string)
		if value == "" {
			return
		}
		system, _ := m["system"].(string)
		out = append(out, storage.Identifier{System: system, Value: value})
	}
	switch v := obj["identifier"].(type) {
	case []any:
		for _, x := range v {
			add(x)
		}
	case map[string]any:
		add(v)
	}
	return out
}

// etag is the weak ETag of a version.
func etag(version int64) string { return `W/"` + strconv.FormatInt(version, 10) + `"` }
