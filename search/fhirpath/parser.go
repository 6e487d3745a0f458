package fhirpath

import (
	"fmt"
	"strings"
)

// expr is a compiled (sub)expression: it maps the focus collection to a
// result collection.
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

func (p *parser) peek() token { return p.toks[p.i] }
func (p *parser) next() token { t := p.toks[p.i]; p.i++; return t }

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

func (p *parser) expression() (expr, error) { return p.orExpr() }

func (p *parser) orExpr() (expr, error) {
	l, err := p.andExpr()
	for err == nil && (p.isKeyword("or") || p.isKeyword("xor")) {
		op := p.next().text
		var r expr
		if r, err = p.andExpr(); err == nil {
			l = &logical{op: op, l: l, r: r}
		}
	}
	return l, err
}

func (p *parser) andExpr() (expr, error) {
	l, err := p.equality()
	for err == nil && p.isKeyword("and") {
		p.i++
		var r expr
		if r, err = p.equality(); err == nil {
			l = &logical{op: "and", l: l, r: r}
		}
	}
	return l, err
}

func (p *parser) equality() (expr, error) {
	l, err := p.union()
	for err == nil && (p.isOp("=") || p.isOp("!=")) {
		op := p.next().text
		var r expr
		if r, err = p.union(); err == nil {
			l = &equals{negate: op == "!=", l: l, r: r}
		}
	}
	return l, err
}

func (p *parser) union() (expr, error) {
	l, err := p.typeExpr()
	for err == nil && p.isOp("|") {
		p.i++
		var r expr
		if r, err = p.typeExpr(); err == nil {
			l = &union{l: l, r: r}
		}
	}
	return l, err
}

func (p *parser) typeExpr() (expr, error) {
	l, err := p.invocation()
	for err == nil && (p.isKeyword("is") || p.isKeyword("as")) {
		op := p.next().text
		var name string
		if name, err = p.typeName(); err == nil {
			l = &chain{base: l, steps: []expr{&typeFilter{name: name, mode: op}}}
		}
	}
	return l, err
}

// typeName reads a type specifier, possibly qualified (FHIR.Patient).
func (p *parser) typeName() (string, error) {
	t := p.next()
	if t.kind != tIdent {
		return "", p.errorf("expected a type name")
	}
	name := t.text
	for p.isOp(".") && p.toks[p.i+1].kind == tIdent {
		p.i++
		name = p.next().text // the namespace (FHIR, System) is dropped
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
	return &child{name: t.text}, nil
}

func (p *parser) term() (expr, error) {
	t := p.peek()
	switch t.kind {
	case tString:
		p.i++
		return literal{Node{Value: t.text, Type: "string"}}, nil
	case tNumber:
		p.i++
		return literal{Node{Value: numberLiteral(t.text), Type: numberType(t.text)}}, nil
	case tVar:
		p.i++
		switch t.text {
		case "$this", "%resource", "%rootResource", "%context":
			return variable(t.text), nil
		}
		return nil, fmt.Errorf("at %d: variable %s is not supported", t.pos, t.text)
	case tIdent:
		p.i++
		switch t.text {
		case "true", "false":
			return literal{Node{Value: t.text == "true", Type: "boolean"}}, nil
		}
		if p.isOp("(") {
			return p.call(t.text)
		}
		return &first{name: t.text}, nil
	case tOp:
		switch t.text {
		case "(":
			p.i++
			x, err := p.expression()
			if err == nil {
				err = p.expect(")")
			}
			return x, err
		case "-", "+":
			return nil, p.errorf("signed expressions are not supported")
		}
	}
	return nil, p.errorf("unexpected %q", t.text)
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
