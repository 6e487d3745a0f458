package storage

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// HistoryQuery selects versions, newest first. Type and ID narrow it to a
// type or an instance. Before pages: only versions older (by seq) than it.
type HistoryQuery struct {
	Type, ID string
	Since    time.Time
	Before   int64
	Limit    int
}

// History returns versions, newest first. New writes only ever add newer
// rows, so paging with Before stays stable while data arrives.
func (s *Store) History(ctx context.Context, h HistoryQuery) ([]Version, error) {
	return s.history(ctx, h, versionColumns)
}

// HistoryKeys is History without the resources (Bodies reads them), for
// a page streamed after its audit record.
func (s *Store) HistoryKeys(ctx context.Context, h HistoryQuery) ([]Version, error) {
	return s.history(ctx, h, keyColumns("resource_version"))
}

func (s *Store) history(ctx context.Context, h HistoryQuery, columns string) ([]Version, error) {
	var b strings.Builder
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	b.WriteString(`SELECT ` + columns + ` FROM resource_version WHERE true`)
	if h.Type != "" {
		b.WriteString(" AND type = " + arg(h.Type))
	}
	if h.ID != "" {
		b.WriteString(" AND id = " + arg(h.ID))
	}
	if !h.Since.IsZero() {
		b.WriteString(" AND last_updated >= " + arg(h.Since))
	}
	if h.Before > 0 {
		b.WriteString(" AND seq < " + arg(h.Before))
	}
	b.WriteString(" ORDER BY seq DESC LIMIT " + arg(h.Limit))
	rows, err := s.pool.Query(ctx, b.String(), args...)
	if err != nil {
		return nil, fmt.Errorf("storage: history: %w", err)
	}
	vs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Version, error) { return scanVersion(r) })
	if err == nil {
		vs, err = s.cipher.opened(ctx, vs)
	}
	if err != nil {
		return nil, fmt.Errorf("storage: history: %w", err)
	}
	return vs, nil
}
