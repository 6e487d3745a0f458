package search

import (
	"strings"

	"github.com/fhirserver/fhirserver/storage"
)

// sortValue is the column each parameter type sorts by; ascending takes a
// resource's least value, descending its greatest (a date sorts by the
// start of its range ascending and the end descending).
var sortValue = map[string][2]string{
	"string": {"min(x.value)", "max(x.value)"}, "token": {"min(x.code)", "max(x.code)"},
	"reference": {"min(coalesce(x.target_type || '/' || x.target_id, x.url))", "max(coalesce(x.target_type || '/' || x.target_id, x.url))"},
	"date":      {"min(x.lo)", "max(x.hi)"}, "number": {"min(x.value)", "max(x.value)"},
	"quantity": {"min(x.value)", "max(x.value)"}, "uri": {"min(x.value)", "max(x.value)"},
}

// parseSort reads _sort=a,-b: keys in order, - for descending.
func (r *Registry) parseSort(typ, value string) ([]storage.Sort, error) {
	var keys []storage.Sort
	if n := strings.Count(value, ",") + 1; n > MaxSortKeys {
		return nil, tooCostly("_sort takes at most %d keys, not %d", MaxSortKeys, n).At("_sort")
	}
	for _, k := range strings.Split(value, ",") {
		desc := strings.HasPrefix(k, "-")
		code := strings.TrimPrefix(k, "-")
		switch code {
		case "_id":
			keys = append(keys, storage.Sort{Expr: func(func(any) string) string { return "v.id" }, Desc: desc})
			continue
		case "_lastUpdated":
			keys = append(keys, storage.Sort{Expr: func(func(any) string) string { return "v.last_updated" }, Desc: desc})
			continue
		}
		p := r.Param(typ, code)
		if p == nil || sortValue[p.Type][0] == "" {
			return nil, invalid("_sort", "_sort: %q is not a search parameter of %s that can sort", code, typ)
		}
		agg := sortValue[p.Type][0]
		if desc {
			agg = sortValue[p.Type][1]
		}
		keys = append(keys, storage.Sort{Desc: desc, Expr: func(arg func(any) string) string {
			// index() is an EXISTS; a sort needs the value itself
			return "(SELECT " + agg + " FROM " + tableOf[p.Type] + " x WHERE " + rowsOf(arg, tableOf[p.Type], p, "v") + ")"
		}})
	}
	return keys, nil
}
