package profiles

import (
	"archive/zip"
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// The specification's and US Core's definitions, as published (see
// data/SOURCES.md).
//
//go:embed data/definitions.zip
var definitionsZip []byte

// Definitions holds StructureDefinitions (base R4 resources and data types,
// core extensions, every held US Core version's profiles and extensions)
// and the value sets and code systems their bindings name. Each is read
// from the archive when first asked for.
//
// One canonical URL may have a definition in several packages (US Core
// 3.1.1's us-core-patient and 8.0.0's): the lists are newest first, and a
// definition's own references resolve in its own package first.
type Definitions struct {
	archive *zip.Reader
	index   map[string][]*indexEntry // canonical URL -> its definitions, newest package first
	vsIndex map[string][]*indexEntry
	csIndex map[string][]*indexEntry
	byType  map[string]*indexEntry // base definitions by type name
	terms   *terminology
	prims   map[string]*primitive
	mu      sync.Mutex
}

type indexEntry struct {
	URL          string `json:"url"`
	Version      string `json:"version"`
	Package      string `json:"package"`
	ResourceType string `json:"resourceType"`
	Type         string `json:"type"`
	Kind         string `json:"kind"`
	Derivation   string `json:"derivation"`
	File         string `json:"file"`

	sd atomic.Pointer[StructureDefinition] // read once, on first use
}

// StructureDefinition is a definition as the validator uses it: its
// snapshot, compiled into an element tree on first use.
type StructureDefinition struct {
	URL            string `json:"url"`
	Version        string `json:"version"`
	Name           string `json:"name"`
	Type           string `json:"type"`
	Kind           string `json:"kind"`
	Abstract       bool   `json:"abstract"`
	Derivation     string `json:"derivation"`
	BaseDefinition string `json:"baseDefinition"`
	Snapshot       struct {
		Element []elementDefinition `json:"element"`
	} `json:"snapshot"`

	once   sync.Once
	root   *elem
	byPath map[string]*elem
	pkg    string // the package it came from, where its references resolve first
}

type elementDefinition struct {
	ID        string `json:"id"`
	Path      string `json:"path"`
	SliceName string `json:"sliceName"`
	Min       int    `json:"min"`
	Max       string `json:"max"`
	Base      struct {
		Max string `json:"max"`
	} `json:"base"`
	ContentReference string    `json:"contentReference"`
	Type             []typeRef `json:"type"`
	Binding          *struct {
		Strength string `json:"strength"`
		ValueSet string `json:"valueSet"`
	} `json:"binding"`
	Constraint []struct {
		Key        string `json:"key"`
		Severity   string `json:"severity"`
		Human      string `json:"human"`
		Expression string `json:"expression"`
		Source     string `json:"source"`
		Extension  []struct {
			URL          string `json:"url"`
			ValueBoolean bool   `json:"valueBoolean"`
		} `json:"extension"`
	} `json:"constraint"`
	Slicing *struct {
		Discriminator []struct {
			Type string `json:"type"`
			Path string `json:"path"`
		} `json:"discriminator"`
		Rules string `json:"rules"`
	} `json:"slicing"`
	// Fixed and Pattern are the fixed[x] and pattern[x] values, if any.
	Fixed, Pattern any `json:"-"`
}

type typeRef struct {
	Code          string   `json:"code"`
	Profile       []string `json:"profile"`
	TargetProfile []string `json:"targetProfile"`
	Extension     []struct {
		URL         string `json:"url"`
		ValueString string `json:"valueString"`
		ValueURL    string `json:"valueUrl"`
	} `json:"extension"`
}

func (e *elementDefinition) UnmarshalJSON(b []byte) error {
	type plain elementDefinition
	if err := json.Unmarshal(b, (*plain)(e)); err != nil {
		return err
	}
	if !bytes.Contains(b, []byte(`"fixed`)) && !bytes.Contains(b, []byte(`"pattern`)) {
		return nil
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal(b, &all); err != nil {
		return err
	}
	for k, raw := range all {
		var dst *any
		switch {
		case strings.HasPrefix(k, "fixed"):
			dst = &e.Fixed
		case strings.HasPrefix(k, "pattern"):
			dst = &e.Pattern
		default:
			continue
		}
		v, err := decodeJSON(raw)
		if err != nil {
			return err
		}
		*dst = v
	}
	return nil
}

// R4 opens the definitions once per process.
var R4 = sync.OnceValues(func() (*Definitions, error) { return openDefinitions(definitionsZip) })

func openDefinitions(archive []byte) (*Definitions, error) {
	zr, err := zip.NewReader(bytes.NewReader(archive), int64(len(archive)))
	if err != nil {
		return nil, fmt.Errorf("profiles: definitions: %w", err)
	}
	d := &Definitions{archive: zr, index: map[string][]*indexEntry{}, vsIndex: map[string][]*indexEntry{},
		csIndex: map[string][]*indexEntry{}, byType: map[string]*indexEntry{}}
	var entries []*indexEntry
	if err := d.readJSON("index.json", &entries); err != nil {
		return nil, err
	}
	slices.SortStableFunc(entries, func(a, b *indexEntry) int { return comparePackages(b.Package, a.Package) })
	for _, e := range entries {
		switch e.ResourceType {
		case "StructureDefinition":
			d.index[e.URL] = append(d.index[e.URL], e)
			if (e.Derivation == "specialization" || e.Derivation == "") && e.Package == corePackage {
				d.byType[e.Type] = e
			}
		case "ValueSet":
			d.vsIndex[e.URL] = append(d.vsIndex[e.URL], e)
		case "CodeSystem":
			d.csIndex[e.URL] = append(d.csIndex[e.URL], e)
		}
	}
	d.terms = newTerminology(d)
	if err := d.compilePrimitives(); err != nil {
		return nil, err
	}
	return d, nil
}

func (d *Definitions) readJSON(name string, v any) error {
	f, err := d.archive.Open(name)
	if err != nil {
		return fmt.Errorf("profiles: definitions: %w", err)
	}
	defer f.Close()
	if err := json.NewDecoder(f).Decode(v); err != nil {
		return fmt.Errorf("profiles: definitions: %s: %w", name, err)
	}
	return nil
}

// structure reads a StructureDefinition when first asked for.
func (d *Definitions) structure(e *indexEntry) *StructureDefinition {
	if e == nil {
		return nil
	}
	if sd := e.sd.Load(); sd != nil {
		return sd // every element a walk checks asks: no lock once read
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if e.sd.Load() == nil {
		sd := &StructureDefinition{pkg: e.Package}
		if err := d.readJSON(e.File, sd); err != nil {
			panic(err) // compiled-in data
		}
		e.sd.Store(sd)
	}
	return e.sd.Load()
}

// Profile returns the StructureDefinition with canonical url, or nil: the
// version a "|version" suffix names, else the newest held.
func (d *Definitions) Profile(url string) *StructureDefinition {
	return d.structure(pick(d.index, url, ""))
}

// Versions lists the definitions of a canonical URL, newest first: the
// one a "|version" suffix names, else every version held.
func (d *Definitions) Versions(url string) []*StructureDefinition {
	url, version, versioned := strings.Cut(url, "|")
	var out []*StructureDefinition
	for _, e := range d.index[url] {
		if !versioned || e.Version == version {
			out = append(out, d.structure(e))
		}
	}
	return out
}

// resolve is the definition that a reference made from package pkg
// means: the version it names, else pkg's own, else the specification's,
// else the newest.
func (d *Definitions) resolve(url, pkg string) *StructureDefinition {
	return d.structure(pick(d.index, url, pkg))
}

// pick finds url (with an optional "|version") in one of the indexes, as
// resolve describes.
func pick(index map[string][]*indexEntry, url, pkg string) *indexEntry {
	url, version, versioned := strings.Cut(url, "|")
	list := index[url]
	if versioned {
		for _, e := range list {
			if e.Version == version {
				return e
			}
		}
		return nil
	}
	for _, want := range []string{pkg, corePackage} {
		for _, e := range list {
			if want != "" && e.Package == want {
				return e
			}
		}
	}
	if len(list) == 0 {
		return nil
	}
	return list[0]
}

// corePackage is the specification's own package.
const corePackage = "hl7.fhir.r4.core#4.0.1"

// comparePackages orders packages oldest first: the specification's, then
// each implementation guide by version.
func comparePackages(a, b string) int {
	if a == b {
		return 0
	}
	if a == corePackage {
		return -1
	}
	if b == corePackage {
		return 1
	}
	return compareVersions(a[strings.IndexByte(a, '#')+1:], b[strings.IndexByte(b, '#')+1:])
}

// compareVersions compares dotted version numbers (3.1.1 < 10.0.0).
func compareVersions(a, b string) int {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(as) && i < len(bs); i++ {
		x, y := parseMax(as[i]), parseMax(bs[i])
		if x != y {
			return x - y
		}
	}
	return len(as) - len(bs)
}

// Base returns the base definition of a resource or data type, or nil.
func (d *Definitions) Base(typ string) *StructureDefinition { return d.structure(d.byType[typ]) }

// Profiles lists the canonical URLs of the constraining profiles of a
// resource type (US Core's, for instance), sorted, each once whatever the
// versions held.
func (d *Definitions) Profiles(typ string) []string {
	var out []string
	for url, list := range d.index {
		if e := list[0]; e.Type == typ && e.Derivation == "constraint" && e.Kind == "resource" {
			out = append(out, url)
		}
	}
	slices.Sort(out)
	return out
}

// ProfileVersions lists the versions held of a canonical URL, newest
// first.
func (d *Definitions) ProfileVersions(url string) []string {
	var out []string
	for _, e := range d.index[url] {
		out = append(out, e.Version)
	}
	return out
}

// elem is one element of a compiled definition.
type elem struct {
	path    string // as in the definition: Patient.contact.name, Observation.value[x]
	name    string // the JSON name, without [x]
	choice  bool
	min     int
	max     int  // -1: unbounded
	array   bool // repeats in the base definition, so JSON carries an array
	types   []typeRef
	kids    []*elem          // the children defined inline, in order
	byKey   map[string]*elem // JSON member name -> child (a choice under each typed name)
	keys    []string         // this element's JSON member names: its name, or a choice's typed ones
	extKeys []string         // "_" + each of keys: where a primitive's extensions are
	keyType map[string]string
	ref     string // contentReference, as "#Path"
	binding *binding
	rules   []*rule
	fixed   any
	pattern any
	sd      *StructureDefinition
	def     *elementDefinition
}

type binding struct {
	strength string
	valueSet string
	pkg      string // where the value set resolves first
}

// rule is an invariant of an element.
type rule struct {
	key, severity, human, expression string
	base                             bool // defined by the R4 specification, not by a profile
	compiled                         atomic.Pointer[compiledRule]
}

// tree compiles a definition's snapshot (slices aside) on first use.
func (sd *StructureDefinition) tree() *elem {
	sd.once.Do(func() { sd.root, sd.byPath = compileSnapshot(sd) })
	return sd.root
}

// find is the element at path (no slices), or nil.
func (sd *StructureDefinition) find(path string) *elem {
	sd.tree()
	return sd.byPath[path]
}

func compileSnapshot(sd *StructureDefinition) (*elem, map[string]*elem) {
	byPath := map[string]*elem{}
	var root *elem
	for i := range sd.Snapshot.Element {
		ed := &sd.Snapshot.Element[i]
		if ed.SliceName != "" || strings.Contains(ed.ID, ":") {
			continue // slices are checked against their own elements
		}
		e := newElem(sd, ed)
		byPath[ed.Path] = e
		dot := strings.LastIndexByte(ed.Path, '.')
		if dot < 0 {
			root = e
			continue
		}
		parent := byPath[ed.Path[:dot]]
		if parent == nil {
			continue
		}
		parent.addKid(e)
	}
	return root, byPath
}

func newElem(sd *StructureDefinition, ed *elementDefinition) *elem {
	name := ed.Path[strings.LastIndexByte(ed.Path, '.')+1:]
	e := &elem{path: ed.Path, min: ed.Min, max: parseMax(ed.Max), types: ed.Type, ref: ed.ContentReference,
		fixed: ed.Fixed, pattern: ed.Pattern, sd: sd, def: ed}
	e.name, e.choice = strings.CutSuffix(name, "[x]")
	e.types = fhirTypes(sd, ed)
	baseMax := ed.Base.Max
	if baseMax == "" {
		baseMax = ed.Max
	}
	e.array = baseMax != "1" && baseMax != "0"
	if ed.Binding != nil && ed.Binding.ValueSet != "" {
		vs, _, _ := strings.Cut(ed.Binding.ValueSet, "|")
		e.binding = &binding{strength: ed.Binding.Strength, valueSet: vs, pkg: sd.pkg}
	}
	for _, c := range ed.Constraint {
		if c.Expression != "" && !bestPractice(c.Extension) {
			e.rules = append(e.rules, &rule{key: c.Key, severity: c.Severity, human: c.Human, expression: c.Expression,
				base: c.Source == "" || strings.HasPrefix(c.Source, "http://hl7.org/fhir/StructureDefinition/")})
		}
	}
	return e
}

// fhirTypes are an element's types, with FHIRPath's own (System.String)
// replaced by the FHIR type the definition names beside them (Element.id
// is a string, Extension.url a uri). A resource's id is an id, as the
// specification's table says; its 4.0.1 definition says string.
func fhirTypes(sd *StructureDefinition, ed *elementDefinition) []typeRef {
	types := ed.Type
	for i, t := range types {
		if !strings.HasPrefix(t.Code, "http://hl7.org/fhirpath/System.") {
			continue
		}
		for _, x := range t.Extension {
			if x.URL == "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type" && x.ValueURL != "" {
				types = slices.Clone(types)
				types[i].Code = x.ValueURL
			}
		}
	}
	if sd.Kind == "resource" && strings.Count(ed.Path, ".") == 1 && strings.HasSuffix(ed.Path, ".id") && len(types) == 1 {
		types = []typeRef{{Code: "id"}}
	}
	return types
}

// bestPractice reports a guideline (dom-6: a resource should have a
// narrative), which the validator does not report: it would answer every
// write that follows the specification's other rules with a warning.
func bestPractice(exts []struct {
	URL          string `json:"url"`
	ValueBoolean bool   `json:"valueBoolean"`
}) bool {
	for _, x := range exts {
		if x.URL == "http://hl7.org/fhir/StructureDefinition/elementdefinition-bestpractice" && x.ValueBoolean {
			return true
		}
	}
	return false
}

func parseMax(s string) int {
	if s == "*" || s == "" {
		return -1
	}
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}

func (e *elem) addKid(k *elem) {
	if e.byKey == nil {
		e.byKey = map[string]*elem{}
	}
	e.kids = append(e.kids, k)
	if !k.choice {
		e.byKey[k.name] = k
		k.keys, k.extKeys = []string{k.name}, []string{"_" + k.name}
		return
	}
	if e.keyType == nil {
		e.keyType = map[string]string{}
	}
	for _, t := range k.types {
		key := k.name + strings.ToUpper(t.Code[:1]) + t.Code[1:]
		e.byKey[key] = k
		e.keyType[key] = t.Code
		k.keys, k.extKeys = append(k.keys, key), append(k.extKeys, "_"+key)
	}
}

// extKey is "_" + k.keys[i], the member holding a primitive's extensions.
func (k *elem) extKey(i int) string {
	if i < len(k.extKeys) {
		return k.extKeys[i]
	}
	return "_" + k.keys[i]
}

// primitive is what the validator knows of a primitive type: its JSON form
// and the pattern its definition gives.
type primitive struct {
	json    string // "string", "number" or "boolean"
	pattern *regexp.Regexp
}

var primitiveJSON = map[string]string{
	"boolean": "boolean", "integer": "number", "decimal": "number", "positiveInt": "number", "unsignedInt": "number",
}

// compilePrimitives compiles the pattern of every primitive type.
func (d *Definitions) compilePrimitives() error {
	d.prims = map[string]*primitive{}
	for name, e := range d.byType {
		if e.Kind != "primitive-type" {
			continue
		}
		sd := d.structure(e)
		p := &primitive{json: "string"}
		if j, ok := primitiveJSON[name]; ok {
			p.json = j
		}
		for _, ed := range sd.Snapshot.Element {
			if !strings.HasSuffix(ed.Path, ".value") || len(ed.Type) == 0 {
				continue
			}
			for _, x := range ed.Type[0].Extension {
				if x.URL == "http://hl7.org/fhir/StructureDefinition/regex" && x.ValueString != "" {
					p.pattern = regexp.MustCompile(`^(?:` + x.ValueString + `)$`)
				}
			}
		}
		d.prims[name] = p
	}
	return nil
}
