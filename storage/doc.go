// Package storage owns PostgreSQL: the connection pool, the embedded
// migrations, the append-only version rows and the inbound log. Among the
// server's packages it is the only one that imports pgx; everything above it
// speaks in Go values. (cmd/fhirbench, a standalone load tool, measures the
// bare-pgx floor with pgx directly.)
package storage
