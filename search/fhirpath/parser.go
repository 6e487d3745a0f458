package fhirpath

import (
	"fmt"
	"strings"
)

// expr is a compiled (sub)expression: it maps the focus collection to a
// result collection. Results are read-only: an expr may return its input,
// a shared constant or a slice of the evaluation's arena.
type expr interface {
	eval(e *env, focus []Node) ([]Node, error)
}

// parser is a precedence-climbing parser over the token list. Precedence,
// loosest first, as in the FHIRPath grammar: implies; or xor; and; in
// contains; = != ~ !~; < > <= >=; |; is as; + - &; * / div mod; unary;
// invocation.
type parser struct {
	toks []token
	i    int
	src  string
}

// Compile parses src into an Expression.
func Compile(src string) (*Expression, error) {
	toks, err := lex(src)
	if err != nil {
		return nil, fmt.Errorf("fhirpath %q: %w", src, err)
	}
	p := &parser{toks: toks, src: src}
	x, err := p.expression()
	if err == nil && p.peek().kind != tEOF {
		err = p.errorf("unexpected %q", p.peek().text)
	}
	if err != nil {
		return nil, fmt.Errorf("fhirpath %q: %w", src, err)
	}
	return &Expression{src: src, root: x}, nil
}

// peek and next stay on the final EOF token, so an expression that ends
// early ("0.") is an error, not a read past the tokens.
func (p *parser) peek() token { return p.toks[min(p.i, len(p.toks)-1)] }
func (p *parser) next() token {
	t := p.peek()
	if t.kind != tEOF {
		p.i++
	}
	return t
}

func (p *parser) errorf(format string, args ...any) error {
	return fmt.Errorf("at %d: %s", p.peek().pos, fmt.Sprintf(format, args...))
}

func (p *parser) isOp(s string) bool      { t := p.peek(); return t.kind == tOp && t.text == s }
func (p *parser) isKeyword(s string) bool { t := p.peek(); return t.kind == tIdent && t.text == s }

func (p *parser) expect(op string) error {
	if !p.isOp(op) {
		return p.errorf("expected %q", op)
	}
	p.i++
	return nil
}

// levels are the binary operators by precedence, loosest first; keywords
// are identifiers, the rest operator tokens. The type operators is/as sit
// between | and the additive operators and are parsed apart.
var levels = [][]string{
	{"implies"},
	{"or", "xor"},
	{"and"},
	{"in", "contains"},
	{"=", "!=", "~", "!~"},
	{"<", ">", "<=", ">="},
	{"|"},
	nil, // is, as
	{"+", "-", "&"},
	{"*", "/", "div", "mod"},
}

func (p *parser) expression() (expr, error) { return p.binary(0) }

// binaryOp answers the operator at the current token if it belongs to level.
func (p *parser) binaryOp(level int) (string, bool) {
	t := p.peek()
	if t.kind != tOp && t.kind != tIdent {
		return "", false
	}
	for _, op := range levels[level] {
		if t.text == op {
			return op, true
		}
	}
	return "", false
}

func (p *parser) binary(level int) (expr, error) {
	if level == len(levels) {
		return p.unary()
	}
	if levels[level] == nil {
		return p.typeExpr(level)
	}
	l, err := p.binary(level + 1)
	for err == nil {
		op, ok := p.binaryOp(level)
		if !ok {
			break
		}
		p.i++
		var r expr
		if r, err = p.binary(level + 1); err == nil {
			l = newBinary(op, l, r)
		}
	}
	return l, err
}

func (p *parser) typeExpr(level int) (expr, error) {
	l, err := p.binary(level + 1)
	for err == nil && (p.isKeyword("is") || p.isKeyword("as")) {
		op := p.next().text
		var name string
		if name, err = p.typeName(); err == nil {
			l = &chain{base: l, steps: []expr{&typeFilter{name: name, mode: op}}}
		}
	}
	return l, err
}

func (p *parser) unary() (expr, error) {
	if p.isOp("-") || p.isOp("+") {
		op := p.next().text
		x, err := p.unary()
		if err != nil || op == "+" {
			return x, err
		}
		return &negate{x: x}, nil
	}
	return p.invocation()
}

// typeName reads a type specifier, possibly qualified (FHIR.Patient,
// System.String); the namespace is dropped, the spelling tells them apart
// (System.String, FHIR.string).
func (p *parser) typeName() (string, error) {
	t := p.next()
	if t.kind != tIdent {
		return "", p.errorf("expected a type name")
	}
	name := t.text
	for p.isOp(".") && p.toks[p.i+1].kind == tIdent {
		p.i++
		name = p.next().text
	}
	return name, nil
}

// invocation is a term followed by .member, .function(...) and [index].
func (p *parser) invocation() (expr, error) {
	base, err := p.term()
	if err != nil {
		return nil, err
	}
	c := &chain{base: base}
	for {
		switch {
		case p.isOp("."):
			p.i++
			step, err := p.member()
			if err != nil {
				return nil, err
			}
			c.steps = append(c.steps, step)
		case p.isOp("["):
			p.i++
			ix, err := p.expression()
			if err != nil {
				return nil, err
			}
			if err := p.expect("]"); err != nil {
				return nil, err
			}
			c.steps = append(c.steps, &indexer{index: ix})
		default:
			if len(c.steps) == 0 {
				return base, nil
			}
			c.fuse()
			return c, nil
		}
	}
}

// member is a name or a function call after a dot.
func (p *parser) member() (expr, error) {
	t := p.next()
	if t.kind != tIdent {
		return nil, p.errorf("expected a name after '.'")
	}
	if p.isOp("(") {
		return p.call(t.text)
	}
	return newChild(t.text), nil
}

func (p *parser) term() (expr, error) {
	t := p.peek()
	switch t.kind {
	case tString:
		p.i++
		return newLiteral(Node{Value: t.text, Type: "string"}), nil
	case tNumber:
		p.i++
		return newLiteral(Node{Value: numberLiteral(t.text), Type: numberType(t.text)}), nil
	case tDate:
		p.i++
		n, err := dateLiteral(t.text)
		if err != nil {
			return nil, fmt.Errorf("at %d: %v", t.pos, err)
		}
		return newLiteral(n), nil
	case tVar:
		p.i++
		switch t.text {
		case "$this", "$index", "$total", "%resource", "%rootResource", "%context":
			return variable(t.text), nil
		}
		if v, ok := constants[t.text]; ok {
			return newLiteral(Node{Value: v, Type: "string"}), nil
		}
		return nil, fmt.Errorf("at %d: variable %s is not supported", t.pos, t.text)
	case tIdent:
		p.i++
		switch t.text {
		case "true", "false":
			return newLiteral(Node{Value: t.text == "true", Type: "boolean"}), nil
		}
		if p.isOp("(") {
			return p.call(t.text)
		}
		return &first{name: t.text, child: newChild(t.text)}, nil
	case tOp:
		switch t.text {
		case "(":
			p.i++
			x, err := p.expression()
			if err == nil {
				err = p.expect(")")
			}
			return x, err
		case "{":
			p.i++
			return newLiteral(), p.expect("}")
		}
	}
	return nil, p.errorf("unexpected %q", t.text)
}

// constants are the environment variables with fixed values.
var constants = map[string]string{
	"%ucum":  "http://unitsofmeasure.org",
	"%sct":   "http://snomed.info/sct",
	"%loinc": "http://loinc.org",
}

// call parses the argument list of name( and builds the function.
func (p *parser) call(name string) (expr, error) {
	if err := p.expect("("); err != nil {
		return nil, err
	}
	var args []expr
	var typeArg string
	for !p.isOp(")") {
		if len(args) > 0 || typeArg != "" {
			if err := p.expect(","); err != nil {
				return nil, err
			}
		}
		if takesType[name] {
			n, err := p.typeName()
			if err != nil {
				return nil, err
			}
			typeArg = n
			continue
		}
		a, err := p.expression()
		if err != nil {
			return nil, err
		}
		args = append(args, a)
	}
	p.i++
	return newFunction(name, args, typeArg)
}

var takesType = map[string]bool{"ofType": true, "as": true, "is": true}

func numberType(s string) string {
	if strings.Contains(s, ".") {
		return "decimal"
	}
	return "integer"
}
