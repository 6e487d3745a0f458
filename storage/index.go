package storage

import (
	"bytes"
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Index is the search index of one version: the values its search
// parameters yield, by parameter type.
type Index struct {
	Strings    []StringEntry
	Tokens     []TokenEntry
	References []ReferenceEntry
	Dates      []DateEntry
	Numbers    []NumberEntry
	Quantities []QuantityEntry
	URIs       []URIEntry
	Composites []CompositeEntry
}

type (
	// StringEntry: Value is normalised (lower case, no accents), Exact as
	// written. The index holds Value's first MaxIndexed bytes, and the
	// whole in column long when it is longer.
	StringEntry struct{ Param, Value, Exact string }
	// TokenEntry: a nil System is a value without one; Text is normalised.
	TokenEntry struct {
		Param        string
		System, Code *string
		Text         *string
	}
	// ReferenceEntry: a local reference has TargetType and TargetID; an
	// absolute one or a canonical has URL (and the type and id its path ends with).
	ReferenceEntry struct {
		Param                     string
		TargetType, TargetID, URL *string
	}
	// DateEntry is the range [Lo, Hi) a date, dateTime, instant or Period covers.
	DateEntry struct {
		Param  string
		Lo, Hi time.Time
	}
	// NumberEntry: Value is a decimal literal.
	NumberEntry struct{ Param, Value string }
	// QuantityEntry: Value is a decimal literal.
	QuantityEntry struct {
		Param, Value       string
		System, Code, Unit *string
	}
	URIEntry struct{ Param, Value string }
	// CompositeEntry is one combination of a composite parameter's
	// component values taken from one element; unused columns are nil.
	CompositeEntry struct {
		Param                            string
		C1System, C1Code                 *string
		C2System, C2Code, C2Text, C2Unit *string
		C2Value                          *string
		C2Lo, C2Hi                       *time.Time
		C3Value                          *string
	}
)

// indexWriter receives a version's index rows: row starts one in a table,
// then each of the table's value columns follows in indexTables' order.
// Two write them: indexColumns (arrays for an INSERT from unnest()) and
// copyText (COPY's text format).
type indexWriter interface {
	row(table int, k Key, version int64, param string)
	text(v string)
	optional(v *string) // nil is NULL
	time(t time.Time)
	number(n int64)
}

// indexColumns gathers the rows of one index table column by column, for
// an INSERT from unnest(): one statement per table whatever the row count.
type indexColumns struct {
	types, ids, params []string
	versions           []int64
	cols               [][]*string
}

// indexArrays writes the rows as indexColumns, one a table.
type indexArrays struct {
	tables []indexColumns
	cur    *indexColumns
	col    int
}

func (a *indexArrays) row(table int, k Key, version int64, param string) {
	c := &a.tables[table]
	c.types, c.ids, c.versions, c.params = append(c.types, k.Type), append(c.ids, k.ID), append(c.versions, version), append(c.params, param)
	if c.cols == nil {
		c.cols = make([][]*string, len(indexTables[table].cols))
	}
	a.cur, a.col = c, 0
}

func (a *indexArrays) text(v string) { a.optional(&v) }

func (a *indexArrays) optional(v *string) {
	a.cur.cols[a.col] = append(a.cur.cols[a.col], v)
	a.col++
}

func (a *indexArrays) time(t time.Time) { a.text(t.UTC().Format(time.RFC3339Nano)) }

func (a *indexArrays) number(n int64) { a.text(strconv.FormatInt(n, 10)) }

// indexTable is how one index table is written: its value columns and
// the SQL type each text value is cast to.
type indexTable struct {
	name  string
	cols  []string
	casts []string
}

var indexTables = []indexTable{
	{"search_string", []string{"value", "exact", "long"}, []string{"text", "text", "text"}},
	{"search_token", []string{"system", "code", "text", "patient", "pid", "sid"}, []string{"text", "text", "text", "text", "bigint", "bigint"}},
	{"search_reference", []string{"target_type", "target_id", "url"}, []string{"text", "text", "text"}},
	{"search_date", []string{"lo", "hi"}, []string{"timestamptz", "timestamptz"}},
	{"search_number", []string{"value"}, []string{"numeric"}},
	{"search_quantity", []string{"value", "system", "code", "unit"}, []string{"numeric", "text", "text", "text"}},
	{"search_uri", []string{"value"}, []string{"text"}},
	{"search_composite", []string{"c1_system", "c1_code", "c2_system", "c2_code", "c2_text", "c2_unit", "c2_value", "c2_lo", "c2_hi", "c3_value"},
		[]string{"text", "text", "text", "text", "text", "text", "numeric", "timestamptz", "timestamptz", "numeric"}},
}

// writeIndex hands w the index rows of rows.
func writeIndex(w indexWriter, rows []Row) {
	for _, r := range rows {
		ix, k, v := &r.Index, r.Key, r.Version
		for _, e := range ix.Strings {
			w.row(0, k, v, e.Param)
			w.text(IndexPrefix(e.Value))
			w.text(e.Exact)
			w.optional(longValue(e.Value))
		}
		patients := compartments(r)
		var pids paramIDs
		var sids systemIDs
		for _, e := range ix.Tokens {
			pid := pids.of(k.Type, e.Param)
			for _, p := range patients {
				w.row(1, k, v, e.Param)
				w.optional(indexKey(e.System))
				w.optional(indexKey(e.Code))
				w.optional(e.Text)
				w.optional(p)
				w.number(pid)
				sids.write(w, e.System)
			}
		}
		for _, e := range ix.References {
			w.row(2, k, v, e.Param)
			w.optional(indexKey(e.TargetType))
			w.optional(indexKey(e.TargetID))
			w.optional(indexKey(e.URL))
		}
		for _, e := range ix.Dates {
			w.row(3, k, v, e.Param)
			w.time(e.Lo)
			w.time(e.Hi)
		}
		for _, e := range ix.Numbers {
			w.row(4, k, v, e.Param)
			w.text(e.Value)
		}
		for _, e := range ix.Quantities {
			w.row(5, k, v, e.Param)
			w.text(e.Value)
			w.optional(e.System)
			w.optional(e.Code)
			w.optional(e.Unit)
		}
		for _, e := range ix.URIs {
			w.row(6, k, v, e.Param)
			w.text(IndexKey(e.Value))
		}
		for _, e := range ix.Composites {
			w.row(7, k, v, e.Param)
			w.optional(indexKey(e.C1System))
			w.optional(indexKey(e.C1Code))
			w.optional(e.C2System)
			w.optional(e.C2Code)
			w.optional(e.C2Text)
			w.optional(e.C2Unit)
			w.optional(e.C2Value)
			optionalTime(w, e.C2Lo)
			optionalTime(w, e.C2Hi)
			w.optional(e.C3Value)
		}
	}
}

// paramIDs remembers the last parameter's ParamID: a version's token
// rows come a parameter at a time (several codings, several patients).
type paramIDs struct {
	typ, param string
	id         int64
}

func (p *paramIDs) of(typ, param string) int64 {
	if typ != p.typ || param != p.param || p.typ == "" {
		p.typ, p.param, p.id = typ, param, ParamID(typ, param)
	}
	return p.id
}

// systemIDs writes a token's SystemID, or NULL without a system,
// remembering the last: a version's codings mostly share one.
type systemIDs struct {
	system string
	id     int64
}

func (s *systemIDs) write(w indexWriter, system *string) {
	if system == nil {
		w.optional(nil)
		return
	}
	if *system != s.system || s.system == "" {
		s.system, s.id = *system, SystemID(*system)
	}
	w.number(s.id)
}

func optionalTime(w indexWriter, t *time.Time) {
	if t == nil {
		w.optional(nil)
		return
	}
	w.time(*t)
}

// compartments are the patients a version's token rows are written for
// (migration 034): a row for each patient it concerns, or one row with no
// patient. Only a patient's valid id is indexed (a reference may name
// anything, and a btree row is bounded): a search leads by the
// compartment only for a valid id (CompartmentID).
func compartments(r Row) []*string {
	var out []*string
	for _, p := range patientsOf(r) {
		if CompartmentID(p) {
			out = append(out, &p)
		}
	}
	if len(out) == 0 {
		return []*string{nil}
	}
	return out
}

// CompartmentID tells whether id is a FHIR id ([A-Za-z0-9\-.]{1,64}),
// one the token rows' patient column holds.
func CompartmentID(id string) bool {
	if len(id) == 0 || len(id) > 64 {
		return false
	}
	for _, c := range []byte(id) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// queueIndex adds one INSERT per non-empty index table to b.
func queueIndex(b *pgx.Batch, rows []Row) {
	a := indexArrays{tables: make([]indexColumns, len(indexTables))}
	writeIndex(&a, rows)
	for i, c := range a.tables {
		if len(c.ids) == 0 {
			continue
		}
		args := []any{c.types, c.ids, c.versions, c.params}
		for _, col := range c.cols {
			args = append(args, col)
		}
		b.Queue(indexInserts[i], args...)
	}
}

// indexInserts are the INSERT ... SELECT FROM unnest() of each table.
var indexInserts = func() []string {
	out := make([]string, len(indexTables))
	for i, t := range indexTables {
		list, sel := "type, id, version, param", "t, i, v, p"
		params, aliases := "$1::text[], $2::text[], $3::bigint[], $4::text[]", "t, i, v, p"
		for j, col := range t.cols {
			alias := "c" + strconv.Itoa(j)
			list += ", " + col
			sel += ", " + alias + "::" + t.casts[j]
			params += ", $" + strconv.Itoa(j+5) + "::text[]"
			aliases += ", " + alias
		}
		out[i] = "INSERT INTO " + t.name + " (" + list + ") SELECT " + sel + " FROM unnest(" + params + ") AS x(" + aliases + ")"
	}
	return out
}()

// copyIndex writes the index rows of rows with one COPY a non-empty
// table, in COPY's text format. PostgreSQL inserts a COPY's rows in bulk
// (a heap page's rows in one WAL record) where an INSERT from unnest()
// writes them one by one, and the text is cheaper to make than pgx's
// binary arrays: at ingest, about half a bundle's rows are index rows.
func copyIndex(ctx context.Context, conn *pgconn.PgConn, rows []Row) error {
	c := getCopyText()
	defer c.release()
	writeIndex(c, rows)
	for i, b := range c.tables {
		if len(b) == 0 {
			continue
		}
		c.tables[i] = append(b, '\n')
		if _, err := conn.CopyFrom(ctx, bytes.NewReader(c.tables[i]), indexCopies[i]); err != nil {
			return err
		}
	}
	return nil
}

// copyText writes each table's rows in COPY's text format: tab between
// columns, a newline between rows, \N for NULL. Its buffers are reused:
// grown afresh for every bundle they were a tenth of an ingest's
// allocation.
type copyText struct {
	tables [][]byte
	cur    int
}

// copyTexts keep a few copyTexts between bundles: about as many as an
// ingest writes at once, since each one kept is live heap the GC marks.
var copyTexts = newFreeList[*copyText](4)

// maxKeptCopyText bounds each table's buffer a kept copyText holds.
const maxKeptCopyText = 1 << 20

func getCopyText() *copyText {
	if c, ok := copyTexts.get(); ok {
		return c
	}
	return &copyText{tables: make([][]byte, len(indexTables))}
}

func (c *copyText) release() {
	for i, b := range c.tables {
		if cap(b) > maxKeptCopyText {
			b = nil
		}
		c.tables[i] = b[:0]
	}
	copyTexts.put(c)
}

func (c *copyText) row(table int, k Key, version int64, param string) {
	b := c.tables[table]
	if len(b) > 0 {
		b = append(b, '\n')
	}
	b = appendCopyField(b, k.Type)
	b = append(b, '\t')
	b = appendCopyField(b, k.ID)
	b = append(b, '\t')
	b = strconv.AppendInt(b, version, 10)
	b = append(b, '\t')
	c.tables[table], c.cur = appendCopyField(b, param), table
}

func (c *copyText) text(v string) {
	c.tables[c.cur] = appendCopyField(append(c.tables[c.cur], '\t'), v)
}

func (c *copyText) optional(v *string) {
	if v == nil {
		c.tables[c.cur] = append(c.tables[c.cur], "\t\\N"...)
		return
	}
	c.text(*v)
}

func (c *copyText) number(n int64) {
	c.tables[c.cur] = strconv.AppendInt(append(c.tables[c.cur], '\t'), n, 10)
}

func (c *copyText) time(t time.Time) {
	c.tables[c.cur] = t.UTC().AppendFormat(append(c.tables[c.cur], '\t'), time.RFC3339Nano)
}

// appendCopyField escapes what COPY's text format reads as structure: the
// backslash, and the tab, newline and carriage return.
func appendCopyField(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\', '\t', '\n', '\r':
			return appendEscaped(append(b, s[:i]...), s[i:])
		}
	}
	return append(b, s...)
}

func appendEscaped(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			b = append(b, `\\`...)
		case '\t':
			b = append(b, `\t`...)
		case '\n':
			b = append(b, `\n`...)
		case '\r':
			b = append(b, `\r`...)
		default:
			b = append(b, c)
		}
	}
	return b
}

// indexCopies are the COPY statements of each table, in indexTables' order.
var indexCopies = func() []string {
	out := make([]string, len(indexTables))
	for i, t := range indexTables {
		out[i] = "COPY " + t.name + " (type, id, version, param, " + strings.Join(t.cols, ", ") + ") FROM STDIN"
	}
	return out
}()
