package profiles

import (
	"strings"
	"sync"
)

// terminology answers whether a code is in a value set, for the value sets
// and code systems the definitions ship with. It does not reach a
// terminology server: a value set that draws on a system it does not hold
// (SNOMED CT, LOINC, UCUM) cannot be enumerated, and a code checked against
// it is neither accepted nor refused ("unknown").
type terminology struct {
	d          *Definitions
	mu         sync.Mutex
	expansions map[string]*expansion
}

type valueSet struct {
	URL     string `json:"url"`
	Compose struct {
		Include []vsInclude `json:"include"`
		Exclude []vsInclude `json:"exclude"`
	} `json:"compose"`
	Expansion *struct {
		Contains []vsContains `json:"contains"`
	} `json:"expansion"`
}

type vsContains struct {
	System   string       `json:"system"`
	Code     string       `json:"code"`
	Contains []vsContains `json:"contains"`
}

type vsInclude struct {
	System   string   `json:"system"`
	ValueSet []string `json:"valueSet"`
	Concept  []struct {
		Code string `json:"code"`
	} `json:"concept"`
	Filter []struct {
		Property string `json:"property"`
		Op       string `json:"op"`
		Value    string `json:"value"`
	} `json:"filter"`
}

type codeSystem struct {
	URL     string      `json:"url"`
	Content string      `json:"content"`
	Concept []csConcept `json:"concept"`
}

type csConcept struct {
	Code    string      `json:"code"`
	Concept []csConcept `json:"concept"`
}

// expansion is a value set's codes, by system. complete is false when some
// part of it could not be enumerated here.
type expansion struct {
	codes    map[string]map[string]bool
	complete bool
}

func newTerminology(d *Definitions) *terminology {
	return &terminology{d: d, expansions: map[string]*expansion{}}
}

func (t *terminology) valueSet(url, pkg string) *valueSet {
	e := pick(t.d.vsIndex, url, pkg)
	if e == nil {
		return nil
	}
	vs := &valueSet{}
	if err := t.d.readJSON(e.File, vs); err != nil {
		panic(err) // compiled-in data
	}
	return vs
}

func (t *terminology) codeSystem(url, pkg string) *codeSystem {
	e := pick(t.d.csIndex, url, pkg)
	if e == nil {
		return nil
	}
	cs := &codeSystem{}
	if err := t.d.readJSON(e.File, cs); err != nil {
		panic(err)
	}
	return cs
}

// Membership of a code in a value set.
type membership int

const (
	unknown membership = iota // the value set cannot be enumerated here
	member
	notMember
)

// contains tells whether system|code is in the value set url, as package
// pkg means it. An empty system matches a code of any of the set's systems
// (a bare code element).
func (t *terminology) contains(pkg, url, system, code string) membership {
	x := t.expand(pkg, url)
	if x == nil {
		return unknown
	}
	if system == "" {
		for _, codes := range x.codes {
			if codes[code] {
				return member
			}
		}
	} else if x.codes[system][code] {
		return member
	}
	if !x.complete {
		return unknown
	}
	return notMember
}

// expand enumerates a value set as package pkg means it, nil when it is
// not known here.
func (t *terminology) expand(pkg, url string) *expansion {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.expandLocked(pkg, url, map[string]bool{})
}

func (t *terminology) expandLocked(pkg, url string, seen map[string]bool) *expansion {
	url, _, _ = strings.Cut(url, "|")
	key := pkg + " " + url
	if x, ok := t.expansions[key]; ok {
		return x
	}
	if seen[url] {
		return nil
	}
	vs := t.valueSet(url, pkg)
	if vs == nil {
		return nil
	}
	seen[url] = true
	x := &expansion{codes: map[string]map[string]bool{}, complete: true}
	if vs.Expansion != nil && len(vs.Compose.Include) == 0 {
		addContains(x, vs.Expansion.Contains)
	}
	for _, inc := range vs.Compose.Include {
		t.include(pkg, x, inc, seen, true)
	}
	for _, exc := range vs.Compose.Exclude {
		t.include(pkg, x, exc, seen, false)
	}
	t.expansions[key] = x
	return x
}

func addContains(x *expansion, cs []vsContains) {
	for _, c := range cs {
		if c.Code != "" {
			x.add(c.System, c.Code, true)
		}
		addContains(x, c.Contains)
	}
}

func (x *expansion) add(system, code string, in bool) {
	if !in {
		delete(x.codes[system], code)
		return
	}
	if x.codes[system] == nil {
		x.codes[system] = map[string]bool{}
	}
	x.codes[system][code] = true
}

// include adds (or, for an exclude, removes) what one compose clause
// selects.
func (t *terminology) include(pkg string, x *expansion, inc vsInclude, seen map[string]bool, in bool) {
	for _, ref := range inc.ValueSet {
		sub := t.expandLocked(pkg, ref, seen)
		if sub == nil {
			x.complete = false
			continue
		}
		// A clause naming value sets and a system selects their
		// intersection; that rare form is taken as the value sets alone.
		for system, codes := range sub.codes {
			for code := range codes {
				x.add(system, code, in)
			}
		}
		x.complete = x.complete && sub.complete
	}
	if inc.System == "" {
		return
	}
	if len(inc.Concept) > 0 {
		for _, c := range inc.Concept {
			x.add(inc.System, c.Code, in)
		}
		return
	}
	cs := t.codeSystem(inc.System, pkg)
	if cs == nil || (cs.Content != "" && cs.Content != "complete") {
		if in {
			x.complete = false
		}
		return
	}
	if len(inc.Filter) == 0 {
		walkConcepts(cs.Concept, func(c csConcept) { x.add(inc.System, c.Code, in) })
		return
	}
	f := inc.Filter[0]
	if len(inc.Filter) > 1 || f.Property != "concept" || (f.Op != "is-a" && f.Op != "descendent-of") {
		if in {
			x.complete = false
		}
		return
	}
	walkConcepts(cs.Concept, func(c csConcept) {
		if c.Code != f.Value {
			return
		}
		if f.Op == "is-a" {
			x.add(inc.System, c.Code, in)
		}
		walkConcepts(c.Concept, func(d csConcept) { x.add(inc.System, d.Code, in) })
	})
}

func walkConcepts(cs []csConcept, fn func(csConcept)) {
	for _, c := range cs {
		fn(c)
		walkConcepts(c.Concept, fn)
	}
}
