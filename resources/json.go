package resources

import (
	"strconv"
	"time"
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

func etag(version int64) string { return `W/"` + strconv.FormatInt(version, 10) + `"` }
