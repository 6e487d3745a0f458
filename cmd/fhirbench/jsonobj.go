package main

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// member is one "key": value pair of a JSON object, value kept verbatim.
type member struct {
	key string
	val json.RawMessage
}

// object is a JSON object that keeps its members in document order. The id
// rewriting edits a few members of large bundles; decoding into map[string]any
// would reorder keys (resourceType would no longer come first), turn decimals
// into float64 and HTML-escape the narrative, so values stay raw bytes instead.
type object []member

// UnmarshalJSON splits a JSON object into its members without decoding values.
func (o *object) UnmarshalJSON(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return fmt.Errorf("not a JSON object")
	}
	*o = (*o)[:0]
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		key, _ := tok.(string)
		var val json.RawMessage
		if err := dec.Decode(&val); err != nil {
			return err
		}
		*o = append(*o, member{key: key, val: val})
	}
	_, err := dec.Token() // the closing brace
	return err
}

// get returns the raw value of key.
func (o object) get(key string) (json.RawMessage, bool) {
	for _, m := range o {
		if m.key == key {
			return m.val, true
		}
	}
	return nil, false
}

// set replaces the value of key in place, or appends the member.
func (o *object) set(key string, val json.RawMessage) {
	for i := range *o {
		if (*o)[i].key == key {
			(*o)[i].val = val
			return
		}
	}
	*o = append(*o, member{key: key, val: val})
}

// appendTo writes the object with its members in their original order.
func (o object) appendTo(buf []byte) []byte {
	buf = append(buf, '{')
	for i, m := range o {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, jsonString(m.key)...)
		buf = append(buf, ':')
		buf = append(buf, m.val...)
	}
	return append(buf, '}')
}

// jsonString encodes s as a JSON string. Keys and ids are plain ASCII, so the
// HTML escaping of json.Marshal never changes them.
func jsonString(s string) json.RawMessage {
	b, _ := json.Marshal(s)
	return b
}
