package profiles

import (
	"strings"
	"sync"

	"github.com/fhirserver/fhirserver/search/fhirpath"
)

// nativeRules are invariants the validator enforces in Go, so their
// FHIRPath is not evaluated: ele-1 (an element holds a value or children)
// is what refusing empty objects, empty strings, empty arrays and nulls
// means, and it sits on every element; dom-3 (a contained resource is
// referred to) walks the whole resource once per contained resource in
// FHIRPath, and was half the cost of validation (containedReferred).
var nativeRules = map[string]bool{"ele-1": true, "dom-3": true}

// containedReferred is dom-3: every contained resource is referred to from
// elsewhere in the resource ("#id" in any reference, canonical or uri), or
// refers to its container ("#").
func (v *validator) containedReferred(obj map[string]any, p *path) {
	contained, _ := obj["contained"].([]any)
	if len(contained) == 0 {
		return
	}
	refs := map[string]bool{}
	collectLocalRefs(obj, refs)
	for _, c := range contained {
		cr, _ := c.(map[string]any)
		id, _ := cr["id"].(string)
		if id != "" && refs["#"+id] {
			continue
		}
		inner := map[string]bool{}
		collectLocalRefs(cr, inner)
		if inner["#"] {
			continue
		}
		v.fail(p, "invariant", "dom-3: If the resource is contained in another resource, it SHALL be referred to from elsewhere in the resource or SHALL refer to the containing resource")
		return
	}
}

// collectLocalRefs gathers every string value that starts with "#".
func collectLocalRefs(x any, into map[string]bool) {
	switch t := x.(type) {
	case string:
		if strings.HasPrefix(t, "#") {
			into[t] = true
		}
	case map[string]any:
		for _, y := range t {
			collectLocalRefs(y, into)
		}
	case []any:
		for _, y := range t {
			collectLocalRefs(y, into)
		}
	}
}

var compiled sync.Map // expression -> *compiledRule

type compiledRule struct {
	x   *fhirpath.Expression
	err error
	// held, when set, shows in Go that the rule holds for an object
	// (plainlyHeld), before its FHIRPath runs.
	held func(map[string]any) bool
}

func compileRule(expression string) *compiledRule {
	if c, ok := compiled.Load(expression); ok {
		return c.(*compiledRule)
	}
	x, err := fhirpath.Compile(expression)
	rule := &compiledRule{x: x, err: err}
	for _, h := range plainlyHeld {
		if h.expression == expression {
			rule.held = h.holds
		}
	}
	c, _ := compiled.LoadOrStore(expression, rule)
	return c.(*compiledRule)
}

// NotEvaluated lists the invariants of the given definitions that the
// FHIRPath engine cannot compile, as "key: expression: error". The
// validator reports each as a warning where it applies, never skipping
// one silently; the list is empty today (invariants_test.go).
func (d *Definitions) NotEvaluated(urls ...string) []string {
	var out []string
	for _, url := range urls {
		for _, sd := range d.Versions(url) {
			out = append(out, notEvaluated(sd)...)
		}
	}
	return out
}

func notEvaluated(sd *StructureDefinition) []string {
	var out []string
	for _, ed := range sd.Snapshot.Element {
		for _, c := range ed.Constraint {
			if c.Expression == "" {
				continue
			}
			if r := compileRule(c.Expression); r.err != nil {
				out = append(out, sd.URL+"|"+sd.Version+" "+c.Key+": "+c.Expression+": "+r.err.Error())
			}
		}
	}
	return out
}

// invariants evaluates e's invariants on a value of it. In a profile's
// walk only the profile's own are evaluated: the base walk has done the
// specification's.
func (v *validator) invariants(e *elem, focus any, p *path, fromProfile bool) {
	for _, r := range e.rules {
		if nativeRules[r.key] || (fromProfile && r.base) {
			continue
		}
		v.invariant(r, focus, p, fromProfile)
	}
}

// plainlyHeld are invariants of the specification that a Go test shows
// to hold before their FHIRPath runs: the dom- rules on a resource with no
// contained resources, ref-1 on a reference that is not local ("#id"),
// which is nearly every resource and every reference. They were a tenth
// of the time spent on invariants. Each applies only to the expression it
// was written for, found when the rule is compiled
// (TestPlainlyHeldInvariantsHoldWhereTheirTestSays).
var plainlyHeld = map[string]struct {
	expression string
	holds      func(map[string]any) bool
}{
	"dom-2": {"contained.contained.empty()", noContained},
	"dom-4": {"contained.meta.versionId.empty() and contained.meta.lastUpdated.empty()", noContained},
	"dom-5": {"contained.meta.security.empty()", noContained},
	"ref-1": {"reference.startsWith('#').not() or (reference.substring(1).trace('url') in %rootResource.contained.id.trace('ids'))", notLocal},
}

func noContained(obj map[string]any) bool {
	_, present := obj["contained"]
	return !present
}

func notLocal(obj map[string]any) bool {
	v, present := obj["reference"]
	ref, isString := v.(string)
	return !present || isString && !strings.HasPrefix(ref, "#")
}

func (v *validator) invariant(r *rule, focus any, p *path, fromProfile bool) {
	c := r.compiled.Load()
	if c == nil { // compiled once a rule, not looked up by its text each time it runs
		c = compileRule(r.expression)
		r.compiled.Store(c)
	}
	if obj, ok := focus.(map[string]any); ok && c.held != nil && c.held(obj) {
		return
	}
	if c.err != nil {
		v.warn(p, "informational", "invariant %s was not evaluated: %v", r.key, c.err)
		return
	}
	ok, empty, err := c.x.Check(focus, fhirpath.Env{Resource: v.current(), RootResource: v.root()})
	switch {
	case err != nil:
		v.warn(p, "informational", "invariant %s could not be evaluated here: %v", r.key, err)
	case ok || empty:
	case r.severity != "error":
		v.warn(p, "invariant", "%s: %s", r.key, r.human)
	case fromProfile:
		v.conformance(p, "invariant", "%s: %s", r.key, r.human)
	default:
		v.fail(p, "invariant", "%s: %s", r.key, r.human)
	}
}

// current and root are the innermost and outermost resources being
// walked: %resource and %rootResource.
func (v *validator) current() map[string]any {
	if len(v.resources) == 0 {
		return nil
	}
	return v.resources[len(v.resources)-1]
}

func (v *validator) root() map[string]any {
	if len(v.roots) == 0 {
		return nil
	}
	return v.roots[len(v.roots)-1]
}

// typeRules are the invariants of a data type's own definition, which a
// value of that type meets wherever it appears (per-1 on every Period).
func (v *validator) typeRules(typ string, focus any, p *path) {
	if strings.HasPrefix(typ, "http://") {
		return
	}
	if sd := v.d.Base(typ); sd != nil && sd.Kind == "complex-type" {
		v.invariants(sd.tree(), focus, p, false)
	}
}

// evaluates reports whether e has an invariant to evaluate, sparing a
// primitive value the cost of asking.
func (e *elem) evaluates() bool {
	for _, r := range e.rules {
		if !nativeRules[r.key] {
			return true
		}
	}
	return false
}
