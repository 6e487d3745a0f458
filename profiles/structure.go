package profiles

import (
	"errors"
	"strconv"
	"strings"

	"github.com/fhirserver/fhirserver/outcome"
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
func Parse(body []byte) (*Resource, error) { return ParseWith(body, Options{}) }

// DecodeOnly decodes a request body without validating it: the no-op
// validator benchmarks inject to measure what validation costs.
func DecodeOnly(body []byte, _ Options) (*Resource, error) {
	obj, err := Decode(body)
	if err != nil {
		return nil, outcome.E(outcome.Invalid, "the body is not a JSON resource: %s", err).WithCode("structure")
	}
	typ, _ := obj["resourceType"].(string)
	return &Resource{Type: typ, Object: obj}, nil
}

// ParseWith is Parse with validation options.
func ParseWith(body []byte, opts Options) (*Resource, error) {
	root, nul, err := decodeText(body)
	if errors.Is(err, errTrailing) {
		return nil, outcome.E(outcome.Invalid, "the body holds more than one JSON value").WithCode("structure")
	}
	if err != nil {
		return nil, outcome.E(outcome.Invalid, "the body is not valid JSON: %s", err).WithCode("structure")
	}
	if nul {
		return nil, outcome.E(outcome.Invalid, "the body holds a NUL character (\\u0000), which no FHIR string may hold").WithCode("structure")
	}
	obj, ok := root.(map[string]any)
	if !ok {
		return nil, outcome.E(outcome.Invalid, "a resource must be a JSON object").WithCode("structure")
	}
	return Check(obj, "", opts)
}

// Resource is a decoded resource that passed the structural check.
type Resource struct {
	Type     string
	Object   map[string]any
	Warnings []outcome.Issue
}

// Check validates a decoded resource against the base definition of its
// type. at is the path of the resource inside an enclosing one ("" at the
// root); paths in errors start with its type.
func Check(obj map[string]any, at string, opts Options) (*Resource, error) {
	d, err := R4()
	if err != nil {
		return nil, err
	}
	var root *path
	if at != "" {
		root = &path{name: at}
	}
	typ, r := d.check(obj, root, opts)
	if err := r.Err(); err != nil {
		return nil, err
	}
	return &Resource{Type: typ, Object: obj, Warnings: r.Warnings}, nil
}

const maxIssues = 50

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
