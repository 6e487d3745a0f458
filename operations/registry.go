package operations

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/fhirserver/fhirserver/resources"
	"github.com/fhirserver/fhirserver/resources/access"
	"github.com/fhirserver/fhirserver/storage"
)

// Level is where an operation is invoked: [base]/$code (System),
// [base]/[type]/$code (Type), [base]/[type]/[id]/$code (Instance).
type Level uint8

const (
	System Level = 1 << iota
	Type
	Instance
)

// Method is how an operation may be invoked: by POST, and by GET as well
// when it changes nothing (FHIR R4, Operations: "If the operation does
// not affect state, it may be invoked with GET").
type Method uint8

const (
	Post Method = 1 << iota
	Get
)

// Input is where an operation's parameters come from besides the URL's
// query.
type Input uint8

const (
	// QueryOnly: the query alone; a body is not read.
	QueryOnly Input = iota
	// Body: a POST carries a body (a Parameters or a resource), and must:
	// 400 without one. A GET carries none.
	Body
	// Form: a POST's form-encoded parameters join the query's.
	Form
)

// Param is one parameter of an OperationDefinition: name, in or out,
// cardinality and FHIR type. A parameter without a type has Parts.
type Param struct {
	Name, Use, Min, Max, Type, Doc string
	Parts                          []Param
}

// Operation is one $operation, declared once in its folder: what the
// CapabilityStatement claims, what its OperationDefinition says, how it is
// routed and who may call it, and the code that answers it.
type Operation struct {
	// Code is the operation's name without the $.
	Code string
	// Types are the resource types it runs on: nil for every type (routed
	// as [type]/$code); empty at system level alone.
	Types  []string
	Levels Level
	// Methods it is routed for; zero means Post.
	Methods Method
	Input   Input
	// AffectsState: the operation changes something; it cannot be a GET.
	AffectsState bool
	// Written: the answer is a resource the operation wrote, which a
	// client's Prefer: return shapes and whose Location it carries, as a
	// create's or an update's.
	Written bool
	// Doc says what the operation does: the OperationDefinition's
	// description, and for a definition published elsewhere how this
	// server answers it (the CapabilityStatement's documentation).
	Doc string
	// Who says who may call it, in a sentence: for the docs and the
	// OperationDefinition's comment.
	Who    string
	Params []Param
	// Canonical names a definition published elsewhere (the FHIR
	// specification's) that this server answers as it stands; the
	// definition served here is rendered from Params under that URL.
	Canonical string
	// Published is a definition an implementation guide publishes, served
	// as published (its url is the canonical).
	Published []byte
	// AuditAction is the AuditEvent action of a call: C, R, U, D or E
	// (the default).
	AuditAction string
	// Allow, when set, refuses a caller before anything is read: an
	// authorization the handler does not make itself.
	Allow func(c access.Caller) error
	// Handler answers the operation.
	Handler func(ctx context.Context, r *Request) (resources.Result, error)
	// Upgrade, when set, answers a request that asks to upgrade its
	// connection (a WebSocket): it takes over the HTTP exchange. Other
	// requests go to Handler.
	Upgrade func(w http.ResponseWriter, r *http.Request, x *Exchange) error
}

// Request is an operation's call, as the HTTP layer read it.
type Request struct {
	Caller access.Caller
	// Method is GET or POST.
	Method string
	// Type is the resource type of the path (empty at system level); ID
	// the instance's id at instance level.
	Type, ID string
	// Query holds the URL's parameters, and a POST's form ones for an
	// operation whose Input is Form.
	Query url.Values
	// Body is a POST's body, for an operation whose Input is Body.
	Body    []byte
	Options resources.Options
	// RemoteAddr is the client's address, as the audit record has it.
	RemoteAddr string
	// Search, set by a handler answered by a search it runs (before it
	// runs it), is that search: its audit record keeps the query as a
	// search's does.
	Search *Search
}

// Search is the search an operation is answered by.
type Search struct {
	Type  string
	Query url.Values
}

// Exchange is what an Upgrade gets besides the HTTP request.
type Exchange struct {
	Caller access.Caller
	Type   string
	ID     string
	// Audit records the exchange's audit record, which must be durable
	// before anything is sent; its error is the one to answer with.
	Audit func(status int, touched []storage.Key) error
	// Authenticate checks the request's token again (with the request's
	// headers, under another context): a connection outlives the request
	// that opened it, not its token.
	Authenticate func(r *http.Request) error
}

// ID names the operation's definition on this server: [Resource]-[code],
// Resource-[code] when it runs on every type, [code] at system level.
func (o *Operation) ID() string {
	switch {
	case o.Types == nil && o.Levels&(Type|Instance) != 0:
		return "Resource-" + o.Code
	case len(o.Types) > 0:
		return o.Types[0] + "-" + o.Code
	}
	return o.Code
}

// Allows reports whether the operation may be invoked with method.
func (o *Operation) Allows(method string) bool {
	m := o.Methods
	if m == 0 {
		m = Post
	}
	switch method {
	case http.MethodGet:
		return m&Get != 0
	case http.MethodPost:
		return m&Post != 0
	}
	return false
}

// Action is the AuditEvent action of a call.
func (o *Operation) Action() string {
	if o.AuditAction == "" {
		return "E"
	}
	return o.AuditAction
}

// RunsOn reports whether the operation runs on resource type typ.
func (o *Operation) RunsOn(typ string) bool {
	return o.Levels&(Type|Instance) != 0 && (o.Types == nil || slices.Contains(o.Types, typ))
}

// check refuses a declaration the routes or the definition could not be
// made from.
func (o *Operation) check() error {
	switch {
	case o.Code == "" || strings.ContainsAny(o.Code, "$/ "):
		return fmt.Errorf("operation %q: a code is a name without $, / or spaces", o.Code)
	case o.Levels == 0 || o.Levels&^(System|Type|Instance) != 0:
		return fmt.Errorf("$%s: levels must be System, Type or Instance", o.Code)
	case o.Levels&(Type|Instance) == 0 && o.Types != nil:
		return fmt.Errorf("$%s: a system-level operation runs on no resource type", o.Code)
	case o.Levels&(Type|Instance) != 0 && o.Types != nil && len(o.Types) == 0:
		return fmt.Errorf("$%s: name its resource types, or nil for every type", o.Code)
	case o.Methods&^(Post|Get) != 0:
		return fmt.Errorf("$%s: methods are Post and Get", o.Code)
	case o.AffectsState && o.Methods&Get != 0:
		return fmt.Errorf("$%s affects state: it cannot be invoked with GET", o.Code)
	case o.Handler == nil:
		return fmt.Errorf("$%s has no handler", o.Code)
	case o.Published != nil && o.Canonical != "":
		return fmt.Errorf("$%s: a definition is published or canonical, not both", o.Code)
	}
	if !strings.Contains("CRUDE", o.Action()) || len(o.Action()) != 1 {
		return fmt.Errorf("$%s: audit action %q is not C, R, U, D or E", o.Code, o.AuditAction)
	}
	return checkParams(o.Code, o.Params)
}

func checkParams(code string, ps []Param) error {
	for _, p := range ps {
		switch {
		case p.Name == "" || p.Use != "in" && p.Use != "out" || p.Min == "" || p.Max == "":
			return fmt.Errorf("$%s: parameter %q needs a name, in or out, min and max", code, p.Name)
		case (p.Type == "") == (len(p.Parts) == 0):
			return fmt.Errorf("$%s: parameter %q has a type or parts, not both or neither", code, p.Name)
		}
		if err := checkParams(code, p.Parts); err != nil {
			return err
		}
	}
	return nil
}

// Registry is the operations the server answers, in the order they were
// added: the routes, the CapabilityStatement's operation entries and the
// OperationDefinitions served are all made from it.
type Registry struct {
	ops []*Operation
}

// Add registers an operation; it refuses a malformed one, and one a
// registered operation already answers at one of its levels and types.
func (r *Registry) Add(o *Operation) error {
	if err := o.check(); err != nil {
		return err
	}
	for _, x := range r.ops {
		if x.Code == o.Code && x.Levels&o.Levels != 0 && overlap(x, o) {
			return fmt.Errorf("$%s is registered twice", o.Code)
		}
		if x.ID() == o.ID() {
			return fmt.Errorf("$%s: another operation's definition has the id %s", o.Code, o.ID())
		}
	}
	r.ops = append(r.ops, o)
	return nil
}

// MustAdd is Add for the server's own list, where a refusal is a bug.
func (r *Registry) MustAdd(o *Operation) {
	if err := r.Add(o); err != nil {
		panic(err)
	}
}

func overlap(a, b *Operation) bool {
	if a.Levels&b.Levels&System != 0 || a.Types == nil || b.Types == nil {
		return true
	}
	for _, t := range a.Types {
		if slices.Contains(b.Types, t) {
			return true
		}
	}
	return false
}

// All lists the operations in the order they were added.
func (r *Registry) All() []*Operation { return slices.Clone(r.ops) }

// ByID finds the operation whose definition has the id.
func (r *Registry) ByID(id string) *Operation {
	for _, o := range r.ops {
		if o.ID() == id {
			return o
		}
	}
	return nil
}
