package profiles

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"

	"github.com/samply/golang-fhir-models/fhir-models/fhir"

	"github.com/fhirserver/fhirserver/fhirserver/outcome"
)

// IsResourceType reports whether name is an R4 resource type.
func IsResourceType(name string) bool {
	_, ok := resourceTypes[name]
	return ok
}

// ResourceTypes lists every R4 resource type.
func ResourceTypes() []string {
	names := make([]string, 0, len(resourceTypes))
	for n := range resourceTypes {
		names = append(names, n)
	}
	return names
}

// Parse decodes a resource, checks its structure against the R4 model of its
// resourceType and returns the decoded tree (numbers as json.Number, so
// decimal precision survives). Every problem found is reported in one
// *outcome.Error of kind Invalid with the element's path in expression.
//
// Unknown elements are warnings, not errors: the R4 JSON format lets a
// reader ignore them for forward compatibility, and real data carries them
// (Period.stop, Attachment.link); the client's JSON is kept as sent.
func Parse(body []byte) (*Resource, error) {
	root, err := decodeJSON(body)
	if errors.Is(err, errTrailing) {
		return nil, outcome.E(outcome.Invalid, "the body holds more than one JSON value").WithCode("structure")
	}
	if err != nil {
		return nil, outcome.E(outcome.Invalid, "the body is not valid JSON: %s", err).WithCode("structure")
	}
	obj, ok := root.(map[string]any)
	if !ok {
		return nil, outcome.E(outcome.Invalid, "a resource must be a JSON object").WithCode("structure")
	}
	return Check(obj, "")
}

// Resource is a decoded resource that passed the structural check.
type Resource struct {
	Type     string
	Object   map[string]any
	Warnings []outcome.Issue
}

// Check validates a decoded resource. at is the path of the resource inside
// an enclosing one ("" at the root); paths in errors start with its type.
func Check(obj map[string]any, at string) (*Resource, error) {
	w := &walker{}
	var root *path
	if at != "" {
		root = &path{name: at}
	}
	typ := w.resource(obj, root)
	if len(w.issues) > 0 {
		return nil, &outcome.Error{Kind: outcome.Invalid, Issues: w.issues}
	}
	return &Resource{Type: typ, Object: obj, Warnings: w.warnings}, nil
}

const maxIssues = 50

type walker struct {
	issues, warnings []outcome.Issue
}

// path is an element's location. Paths are chained on the stack as the walk
// descends and rendered only for an issue, so a valid resource costs no
// string building.
type path struct {
	parent *path
	name   string // a member name; "" for an array index, or the root's text
	index  int
}

// String copies everything it returns: a result that aliased the nodes
// would make them escape to the heap, and with them every node of the walk.
func (p *path) String() string {
	var b strings.Builder
	p.write(&b)
	return b.String()
}

func (p *path) write(b *strings.Builder) {
	if p.parent != nil {
		p.parent.write(b)
		if p.name == "" {
			b.WriteString("[" + strconv.Itoa(p.index) + "]")
			return
		}
		b.WriteByte('.')
	}
	b.WriteString(p.name)
}

func (w *walker) warn(p *path, format string, args ...any) {
	if len(w.warnings) < maxIssues {
		w.warnings = append(w.warnings, outcome.Issue{Severity: "warning", Code: "structure",
			Diagnostics: fmt.Sprintf(format, args...), Expression: []string{p.String()}})
	}
}

func (w *walker) fail(p *path, code, format string, args ...any) {
	if len(w.issues) < maxIssues {
		w.issues = append(w.issues, outcome.Issue{Code: code, Diagnostics: fmt.Sprintf(format, args...), Expression: []string{p.String()}})
	}
}

// resource checks a resource object; at is the path of the element that
// holds it, or nil for the root.
func (w *walker) resource(obj map[string]any, at *path) string {
	rt, _ := obj["resourceType"].(string)
	t, ok := resourceTypes[rt]
	p := at
	if p == nil {
		p = &path{name: rt}
		if !ok {
			p.name = "Resource"
		}
	}
	switch {
	case rt == "":
		w.fail(p, "required", "resourceType is missing or not a string")
		return ""
	case !ok:
		w.fail(&path{parent: p, name: "resourceType"}, "value", "unknown resource type %q", rt)
		return rt
	}
	w.object(t, obj, p, true)
	return rt
}

// object checks the members of a JSON object against a model struct.
func (w *walker) object(t reflect.Type, obj map[string]any, p *path, isResource bool) {
	if len(obj) == 0 {
		w.fail(p, "value", "an element must not be empty")
		return
	}
	fields := fieldsOf(t)
	for key, v := range obj {
		member := path{parent: p, name: key}
		if isResource && key == "resourceType" {
			continue
		}
		if isResource && key == "contained" && fields.domain {
			w.contained(v, &member)
			continue
		}
		if strings.HasPrefix(key, "_") {
			w.primitiveExtension(fields, key, v, p)
			continue
		}
		ft, ok := fields.byName[key]
		if !ok {
			w.warn(&member, "unknown element %q is kept but not understood", key)
			continue
		}
		w.value(ft, v, &member)
	}
}

func (w *walker) contained(v any, p *path) {
	list, ok := v.([]any)
	if !ok || len(list) == 0 {
		w.fail(p, "structure", "contained must be a non-empty array of resources")
		return
	}
	for i, item := range list {
		at := path{parent: p, index: i}
		obj, ok := item.(map[string]any)
		if !ok {
			w.fail(&at, "structure", "a contained resource must be an object")
			continue
		}
		w.resource(obj, &at)
	}
}

// primitiveExtension checks _name, which carries the id and extensions of
// the primitive element name. Issues name the element (name, not _name).
func (w *walker) primitiveExtension(fields *structFields, key string, v any, parent *path) {
	name := key[1:]
	p := path{parent: parent, name: name}
	if _, ok := fields.byName[name]; !ok {
		w.warn(&path{parent: parent, name: key}, "unknown element %q is kept but not understood", key)
		return
	}
	switch x := v.(type) {
	case map[string]any:
		w.object(elementType, x, &p, false)
	case []any:
		for i, item := range x {
			if item == nil {
				continue
			}
			at := path{parent: &p, index: i}
			obj, ok := item.(map[string]any)
			if !ok {
				w.fail(&at, "structure", "%s items must be objects or null", key)
				continue
			}
			w.object(elementType, obj, &at, false)
		}
	default:
		w.fail(&path{parent: parent, name: key}, "structure", "%s must be an object", key)
	}
}

var (
	rawMessageType  = reflect.TypeFor[json.RawMessage]()
	numberType      = reflect.TypeFor[json.Number]()
	unmarshalerType = reflect.TypeFor[json.Unmarshaler]()
	// elementType is the shape of a primitive's _name object: id and extension.
	elementType = reflect.TypeFor[struct {
		ID        *string          `json:"id"`
		Extension []fhir.Extension `json:"extension"`
	}]()
)

// value checks one element against the model type t.
func (w *walker) value(t reflect.Type, v any, p *path) {
	if v == nil {
		w.fail(p, "structure", "null is not allowed here")
		return
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == rawMessageType:
		obj, ok := v.(map[string]any)
		if !ok {
			w.fail(p, "structure", "expected a resource object")
			return
		}
		w.resource(obj, p)
	case t.Kind() == reflect.Slice:
		list, ok := v.([]any)
		if !ok {
			w.fail(p, "structure", "expected an array")
			return
		}
		if len(list) == 0 {
			w.fail(p, "value", "an array must not be empty")
		}
		elem := t.Elem()
		for i, item := range list {
			w.value(elem, item, &path{parent: p, index: i})
		}
	default:
		w.single(t, v, p)
	}
}

func (w *walker) single(t reflect.Type, v any, p *path) {
	switch {
	case t == numberType:
		if _, ok := v.(json.Number); !ok {
			w.fail(p, "value", "expected a number")
		}
	case t.Kind() == reflect.Struct:
		obj, ok := v.(map[string]any)
		if !ok {
			w.fail(p, "structure", "expected an object")
			return
		}
		w.object(t, obj, p, false)
	case isCode(t):
		w.code(t, v, p)
	case t.Kind() == reflect.String:
		s, ok := v.(string)
		switch {
		case !ok:
			w.fail(p, "value", "expected a string")
		case strings.TrimSpace(s) == "":
			w.fail(p, "value", "a string must not be empty or only whitespace")
		}
	case t.Kind() == reflect.Bool:
		if _, ok := v.(bool); !ok {
			w.fail(p, "value", "expected true or false")
		}
	case t.Kind() == reflect.Int || t.Kind() == reflect.Int64 || t.Kind() == reflect.Uint:
		n, ok := v.(json.Number)
		if !ok {
			w.fail(p, "value", "expected an integer")
			return
		}
		if _, err := strconv.ParseInt(string(n), 10, 32); err != nil {
			w.fail(p, "value", "expected an integer, got %s", n)
		}
	default:
		w.fail(p, "structure", "cannot check an element of Go type %s", t)
	}
}

var codeTypes sync.Map // reflect.Type -> bool

// isCode reports whether t is one of the models' code types, which check
// their value set when unmarshalled.
func isCode(t reflect.Type) bool {
	if c, ok := codeTypes.Load(t); ok {
		return c.(bool)
	}
	c := t.Kind() != reflect.Struct && reflect.PointerTo(t).Implements(unmarshalerType)
	codeTypes.Store(t, c)
	return c
}

type codeKey struct {
	t reflect.Type
	s string
}

// validCodes remembers codes found valid. Only valid ones are kept: they
// come from finite value sets, so the cache cannot grow without bound.
var validCodes sync.Map // codeKey -> struct{}

// code checks a coded value by unmarshalling it into the model's code type,
// which knows the value set of its required binding.
func (w *walker) code(t reflect.Type, v any, p *path) {
	s, ok := v.(string)
	if !ok {
		w.fail(p, "value", "expected a code string")
		return
	}
	if _, ok := validCodes.Load(codeKey{t, s}); ok {
		return
	}
	// The models compare the raw text between the quotes, so pass it
	// unescaped: json.Marshal would turn ">" into "\u003e".
	quoted := []byte(`"` + s + `"`)
	if err := reflect.New(t).Interface().(json.Unmarshaler).UnmarshalJSON(quoted); err != nil {
		w.fail(p, "code-invalid", "%q is not a valid code here", s)
		return
	}
	validCodes.Store(codeKey{t, s}, struct{}{})
}

type structFields struct {
	byName map[string]reflect.Type
	domain bool // a DomainResource, which may hold contained resources
}

var fieldCache sync.Map // reflect.Type -> *structFields

func fieldsOf(t reflect.Type) *structFields {
	if f, ok := fieldCache.Load(t); ok {
		return f.(*structFields)
	}
	f := &structFields{byName: make(map[string]reflect.Type, t.NumField())}
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		name, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		f.byName[name] = sf.Type
	}
	_, f.domain = f.byName["text"]
	_, hasMod := f.byName["modifierExtension"]
	f.domain = f.domain && hasMod
	fieldCache.Store(t, f)
	return f
}

// HasElement reports whether resources of type typ have a top-level element
// called name.
func HasElement(typ, name string) bool {
	t, ok := resourceTypes[typ]
	if !ok {
		return false
	}
	_, ok = fieldsOf(t).byName[name]
	return ok
}
