package storage

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/tern/v2/migrate"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

const versionTable = "schema_version"

// Migrate applies every pending migration. It connects as the role in url,
// which owns the schema; the server itself later works as fhir_app.
// Migrations are forward-only: there is no way down.
func Migrate(ctx context.Context, url string) error {
	var err error
	// Databases of one cluster share the fhir_app role, and tern's lock is
	// per database: two first migrations at once can collide on the role.
	for attempt := 0; attempt < 5; attempt++ {
		if err = migrateOnce(ctx, url); err == nil || !roleRace(err) {
			return err
		}
	}
	return err
}

func migrateOnce(ctx context.Context, url string) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return fmt.Errorf("storage: connect for migrations: %w", err)
	}
	defer conn.Close(context.Background())
	m, err := migrate.NewMigrator(ctx, conn, versionTable)
	if err != nil {
		return fmt.Errorf("storage: migrator: %w", err)
	}
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return err
	}
	if err := m.LoadMigrations(sub); err != nil {
		return fmt.Errorf("storage: load migrations: %w", err)
	}
	if err := m.Migrate(ctx); err != nil {
		return fmt.Errorf("storage: migrate: %w", err)
	}
	return nil
}

func roleRace(err error) bool {
	var pg *pgconn.PgError
	if !errors.As(err, &pg) {
		return false
	}
	switch pg.Code {
	case pgerrcode.UniqueViolation, pgerrcode.DuplicateObject, pgerrcode.InternalError:
		return true
	}
	return false
}

// LatestMigration is the number of the newest embedded migration.
func LatestMigration() int32 {
	names, _ := migrate.FindMigrations(mustSub())
	return int32(len(names))
}

func mustSub() fs.FS {
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		panic(err)
	}
	return sub
}
