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

// indexColumns gathers the rows of one index table column by column, for
// an INSERT from unnest(): one statement per table whatever the row count.
type indexColumns struct {
	types, ids, params []string
	versions           []int64
	cols               [][]*string
}

func (c *indexColumns) add(k Key, version int64, param string, values ...*string) {
	c.types, c.ids, c.versions, c.params = append(c.types, k.Type), append(c.ids, k.ID), append(c.versions, version), append(c.params, param)
	if c.cols == nil {
		c.cols = make([][]*string, len(values))
	}
	for i, v := range values {
		c.cols[i] = append(c.cols[i], v)
	}
}

// indexTable is how one index table is written: its value columns and
// the SQL type each text value is cast to.
type indexTable struct {
	name  string
	cols  []string
	casts []string
}

var indexTables = []indexTable{
	{"search_string", []string{"value", "exact", "long"}, []string{"text", "text", "text"}},
	{"search_token", []string{"system", "code", "text", "patient"}, []string{"text", "text", "text", "text"}},
	{"search_reference", []string{"target_type", "target_id", "url"}, []string{"text", "text", "text"}},
	{"search_date", []string{"lo", "hi"}, []string{"timestamptz", "timestamptz"}},
	{"search_number", []string{"value"}, []string{"numeric"}},
	{"search_quantity", []string{"value", "system", "code", "unit"}, []string{"numeric", "text", "text", "text"}},
	{"search_uri", []string{"value"}, []string{"text"}},
	{"search_composite", []string{"c1_system", "c1_code", "c2_system", "c2_code", "c2_text", "c2_unit", "c2_value", "c2_lo", "c2_hi", "c3_value"},
		[]string{"text", "text", "text", "text", "text", "text", "numeric", "timestamptz", "timestamptz", "numeric"}},
}

// collect spreads the index entries of rows over the tables, in the order
// of indexTables.
func collectIndex(rows []Row) []indexColumns {
	out := make([]indexColumns, len(indexTables))
	s := func(v string) *string { return &v }
	ts := func(t time.Time) *string { return s(t.UTC().Format(time.RFC3339Nano)) }
	for _, r := range rows {
		ix, k, v := &r.Index, r.Key, r.Version
		patients := compartments(r)
		for _, e := range ix.Strings {
			out[0].add(k, v, e.Param, s(IndexPrefix(e.Value)), s(e.Exact), longValue(e.Value))
		}
		for _, e := range ix.Tokens {
			for _, p := range patients {
				out[1].add(k, v, e.Param, indexKey(e.System), indexKey(e.Code), e.Text, p)
			}
		}
		for _, e := range ix.References {
			out[2].add(k, v, e.Param, indexKey(e.TargetType), indexKey(e.TargetID), indexKey(e.URL))
		}
		for _, e := range ix.Dates {
			out[3].add(k, v, e.Param, ts(e.Lo), ts(e.Hi))
		}
		for _, e := range ix.Numbers {
			out[4].add(k, v, e.Param, s(e.Value))
		}
		for _, e := range ix.Quantities {
			out[5].add(k, v, e.Param, s(e.Value), e.System, e.Code, e.Unit)
		}
		for _, e := range ix.URIs {
			out[6].add(k, v, e.Param, s(IndexKey(e.Value)))
		}
		for _, e := range ix.Composites {
			out[7].add(k, v, e.Param, indexKey(e.C1System), indexKey(e.C1Code), e.C2System, e.C2Code, e.C2Text, e.C2Unit, e.C2Value, tsp(e.C2Lo), tsp(e.C2Hi), e.C3Value)
		}
	}
	return out
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

func tsp(t *time.Time) *string {
	if t == nil {
		return nil
	}
	s := t.UTC().Format(time.RFC3339Nano)
	return &s
}

// queueIndex adds one INSERT per non-empty index table to b.
func queueIndex(b *pgx.Batch, rows []Row) {
	for i, c := range collectIndex(rows) {
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
	var buf []byte
	for i, c := range collectIndex(rows) {
		if len(c.ids) == 0 {
			continue
		}
		buf = c.appendCopyText(buf[:0])
		if _, err := conn.CopyFrom(ctx, bytes.NewReader(buf), indexCopies[i]); err != nil {
			return err
		}
	}
	return nil
}

// appendCopyText appends the rows in COPY's text format: tab between
// columns, a newline after each row, \N for NULL.
func (c *indexColumns) appendCopyText(b []byte) []byte {
	for r := range c.ids {
		b = appendCopyField(b, c.types[r])
		b = append(b, '\t')
		b = appendCopyField(b, c.ids[r])
		b = append(b, '\t')
		b = strconv.AppendInt(b, c.versions[r], 10)
		b = append(b, '\t')
		b = appendCopyField(b, c.params[r])
		for _, col := range c.cols {
			b = append(b, '\t')
			if v := col[r]; v != nil {
				b = appendCopyField(b, *v)
			} else {
				b = append(b, `\N`...)
			}
		}
		b = append(b, '\n')
	}
	return b
}

// appendCopyField escapes what COPY's text format reads as structure: the
// backslash, and the tab, newline and carriage return.
func appendCopyField(b []byte, s string) []byte {
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
