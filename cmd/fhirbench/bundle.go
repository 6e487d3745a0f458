package main

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// fixture is one transaction or batch Bundle read from a fixtures directory.
type fixture struct {
	path     string
	provider bool // a "0-" file: loaded first, once, unchanged
	data     []byte
	entries  []entryInfo
}

// entryInfo is what the id rewriting needs to know about one bundle entry.
type entryInfo struct {
	uuid        string // X of a fullUrl urn:uuid:X
	fullURL     string
	localKey    string // "Type/id" the entry claims: PUT url, else a Type/id fullUrl
	hasResource bool
}

// bundleHead decodes only the parts of a file that decide how to load it;
// the resources themselves stay undecoded.
type bundleHead struct {
	ResourceType string `json:"resourceType"`
	Type         string `json:"type"`
	Entry        []struct {
		FullURL  string `json:"fullUrl"`
		Resource *struct {
			ResourceType string `json:"resourceType"`
		} `json:"resource"`
		Request *struct {
			Method string `json:"method"`
			URL    string `json:"url"`
		} `json:"request"`
	} `json:"entry"`
}

// localRef matches a literal relative reference "Type/id" (FHIR id syntax),
// never a conditional one like "Organization?identifier=...".
var localRef = regexp.MustCompile(`^[A-Z][A-Za-z]+/[A-Za-z0-9\-.]{1,64}$`)

// loadFixtures reads every *.json file of the given directories, in name order,
// keeping transaction and batch Bundles and logging what it skips.
func loadFixtures(dirs []string, logw io.Writer) ([]fixture, error) {
	var out []fixture
	for _, dir := range dirs {
		names, err := jsonFiles(dir)
		if err != nil {
			return nil, err
		}
		for _, path := range names {
			f, skip, err := readFixture(path)
			if err != nil {
				return nil, err
			}
			if skip != "" {
				fmt.Fprintf(logw, "skip %s: %s\n", path, skip)
				continue
			}
			out = append(out, f)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no transaction or batch Bundles in %s", strings.Join(dirs, ", "))
	}
	return out, nil
}

// jsonFiles lists the *.json files directly inside dir, sorted by name.
func jsonFiles(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("fixtures: %w", err)
	}
	var out []string
	for _, e := range ents {
		if !e.IsDir() && strings.HasSuffix(strings.ToLower(e.Name()), ".json") {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	slices.Sort(out)
	return out, nil
}

// readFixture reads one file. A non-empty skip says why it is not loaded:
// single resources (Groups, SearchParameters) are left out rather than
// wrapped, because they refer to fixed ids that the copies do not keep.
func readFixture(path string) (f fixture, skip string, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return f, "", err
	}
	return parseFixture(path, data)
}

// parseFixture is readFixture on a file already read (or made, as the
// trimmed patients of the scale mode are).
func parseFixture(path string, data []byte) (f fixture, skip string, err error) {
	var head bundleHead
	if err := json.Unmarshal(data, &head); err != nil {
		return f, "", fmt.Errorf("%s: %w", path, err)
	}
	if head.ResourceType != "Bundle" {
		return f, fmt.Sprintf("a single %s, not a Bundle", head.ResourceType), nil
	}
	if head.Type != "transaction" && head.Type != "batch" {
		return f, fmt.Sprintf("Bundle of type %q", head.Type), nil
	}
	f = fixture{path: path, data: data, provider: strings.HasPrefix(filepath.Base(path), "0-")}
	for _, e := range head.Entry {
		info := entryInfo{fullURL: e.FullURL, hasResource: e.Resource != nil}
		info.uuid, _ = strings.CutPrefix(e.FullURL, "urn:uuid:")
		if info.uuid == e.FullURL {
			info.uuid = ""
		}
		if e.Request != nil && e.Request.Method == "PUT" && localRef.MatchString(e.Request.URL) {
			info.localKey = e.Request.URL
		} else if info.uuid == "" && e.Resource != nil {
			info.localKey = fullURLKey(e.FullURL, e.Resource.ResourceType)
		}
		f.entries = append(f.entries, info)
	}
	return f, "", nil
}

// fullURLKey returns "Type/id" when a (relative or absolute) fullUrl ends in
// the entry's own type and an id, as POST entries of some bundles do.
func fullURLKey(fullURL, resourceType string) string {
	i := strings.LastIndex(fullURL, resourceType+"/")
	if resourceType == "" || i < 0 || (i > 0 && fullURL[i-1] != '/') {
		return ""
	}
	if key := fullURL[i:]; localRef.MatchString(key) {
		return key
	}
	return ""
}

// idMap holds one copy's new ids: urn:uuid X -> new uuid, and "Type/id" -> new id.
type idMap struct {
	uuids map[string]string
	keys  map[string]string
}

// rewrite returns a copy of the bundle in which every id the bundle defines
// is fresh, so the same file can be posted many times without collisions.
// Conditional references (Type?identifier=...) are left alone.
func (f *fixture) rewrite(newID func() string) ([]byte, error) {
	top, entries, err := f.rewriteParts(newID)
	if err != nil {
		return nil, err
	}
	top.set("entry", entries)
	return top.appendTo(make([]byte, 0, len(entries)+256)), nil
}

// rewriteEntries is rewrite's entry array alone ("[...]"), for bundles that
// join several copies.
func (f *fixture) rewriteEntries(newID func() string) ([]byte, error) {
	_, entries, err := f.rewriteParts(newID)
	return entries, err
}

// rewriteParts returns the bundle's top-level object and, apart, its
// rewritten entry array.
func (f *fixture) rewriteParts(newID func() string) (object, []byte, error) {
	ids := idMap{uuids: map[string]string{}, keys: map[string]string{}}
	for _, e := range f.entries {
		if e.uuid != "" && ids.uuids[e.uuid] == "" {
			ids.uuids[e.uuid] = newID()
		}
		if e.localKey != "" && ids.keys[e.localKey] == "" {
			ids.keys[e.localKey] = newID()
		}
	}
	text := ids.replacer().Replace(string(f.data))
	return setResourceIDs([]byte(text), f.entries, ids, newID)
}

// replacer rewrites every "urn:uuid:X" in the text and every JSON string that
// is exactly "Type/id" (references and PUT urls). Longer patterns go first so
// that one id that is a prefix of another cannot split it.
func (m idMap) replacer() *strings.Replacer {
	var pairs [][2]string
	for old, id := range m.uuids {
		pairs = append(pairs, [2]string{"urn:uuid:" + old, "urn:uuid:" + id})
	}
	for key, id := range m.keys {
		typ, _, _ := strings.Cut(key, "/")
		pairs = append(pairs, [2]string{`"` + key + `"`, `"` + typ + "/" + id + `"`})
	}
	slices.SortFunc(pairs, func(a, b [2]string) int { return len(b[0]) - len(a[0]) })
	flat := make([]string, 0, 2*len(pairs))
	for _, p := range pairs {
		flat = append(flat, p[0], p[1])
	}
	return strings.NewReplacer(flat...)
}

// setResourceIDs gives each entry's resource its new id (the text replacement
// cannot, since "id": "85" is not a reference) and fixes absolute fullUrls;
// it returns the top-level object and the new entry array.
func setResourceIDs(data []byte, infos []entryInfo, ids idMap, newID func() string) (object, []byte, error) {
	var top object
	if err := json.Unmarshal(data, &top); err != nil {
		return nil, nil, err
	}
	raw, _ := top.get("entry")
	var entries []object
	if err := json.Unmarshal(raw, &entries); err != nil {
		return nil, nil, err
	}
	if len(entries) != len(infos) {
		return nil, nil, fmt.Errorf("entry count changed: %d != %d", len(entries), len(infos))
	}
	buf := make([]byte, 0, len(data)+len(data)/16)
	buf = append(buf, '[')
	for i := range entries {
		if err := setEntryID(&entries[i], infos[i], ids, newID); err != nil {
			return nil, nil, fmt.Errorf("entry %d: %w", i, err)
		}
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = entries[i].appendTo(buf)
	}
	return top, append(buf, ']'), nil
}

// setEntryID sets resource.id (when the resource has one or PUT needs one)
// and rewrites an absolute fullUrl that ends in the entry's old Type/id.
func setEntryID(e *object, info entryInfo, ids idMap, newID func() string) error {
	raw, ok := e.get("resource")
	if !ok {
		return nil
	}
	var res object
	if err := json.Unmarshal(raw, &res); err != nil {
		return err
	}
	id := newID
	switch {
	case info.localKey != "":
		id = func() string { return ids.keys[info.localKey] }
	case info.uuid != "":
		id = func() string { return ids.uuids[info.uuid] }
	}
	if _, has := res.get("id"); has || info.localKey != "" {
		res.set("id", jsonString(id()))
		e.set("resource", res.appendTo(nil))
	}
	if info.localKey != "" && info.fullURL != info.localKey && strings.HasSuffix(info.fullURL, "/"+info.localKey) {
		typ, _, _ := strings.Cut(info.localKey, "/")
		prefix := strings.TrimSuffix(info.fullURL, info.localKey)
		e.set("fullUrl", jsonString(prefix+typ+"/"+ids.keys[info.localKey]))
	}
	return nil
}

// newUUID returns a random (version 4) UUID, the form Synthea uses for ids.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails since Go 1.24
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
