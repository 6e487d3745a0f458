package main

import (
	"path/filepath"

	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"

	"github.com/fhirserver/fhirserver/storage"
	"github.com/fhirserver/fhirserver/storage/embedded"
	"github.com/fhirserver/fhirserver/storage/keyring"
	"github.com/fhirserver/fhirserver/storage/keys"
)

// dbFlags are the storage flags every command takes.
type dbFlags struct {
	url         string
	dataDir     string
	keyFile     string
	kmsKeyID    string
	kmsEndpoint string
	// budget bounds the pool's statements; only serve sets it: admin
	// commands and load run long statements of their own.
	budget storage.Options
}

func (d *dbFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&d.url, "database-url", os.Getenv("DATABASE_URL"), "PostgreSQL connection string (env DATABASE_URL)")
	fs.StringVar(&d.dataDir, "data-dir", envOr("FHIR_DATA_DIR", "./.data"), "embedded cluster directory, used without a database URL (env FHIR_DATA_DIR)")
	fs.StringVar(&d.keyFile, "key-file", os.Getenv("FHIR_KEY_FILE"), "the key-encryption key, outside the database; created on first use (default DATA_DIR/keys/kek; env FHIR_KEY_FILE)")
	fs.StringVar(&d.kmsKeyID, "kms-key-id", os.Getenv("FHIR_KMS_KEY_ID"), "an AWS KMS key to use instead of the key file (env FHIR_KMS_KEY_ID; AWS credentials as the SDK finds them)")
	fs.StringVar(&d.kmsEndpoint, "kms-endpoint", os.Getenv("FHIR_KMS_ENDPOINT"), "a KMS endpoint other than AWS's (env FHIR_KMS_ENDPOINT)")
}

// keys opens the key provider: AWS KMS when a key id is given, else the
// local key file.
func (d *dbFlags) keys(ctx context.Context) (keyring.Provider, error) {
	return openKeys(ctx, d.kmsKeyID, d.kmsEndpoint, d.keyFile, d.dataDir)
}

func openKeys(ctx context.Context, kmsKeyID, kmsEndpoint, keyFile, dataDir string) (keyring.Provider, error) {
	if kmsKeyID != "" {
		return keyring.OpenAWSKMS(ctx, kmsKeyID, kmsEndpoint)
	}
	if keyFile == "" {
		keyFile = filepath.Join(dataDir, "keys", "kek")
	}
	return keyring.OpenLocalFile(keyFile)
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// database is an open, migrated store and what stops it.
type database struct {
	url   string
	store *storage.Store
	// cipher seals what the store encrypts at rest, under the data keys.
	cipher *keys.Cipher
	stop   func()
}

// openDatabase connects to the database URL, or starts (or joins) the
// embedded cluster, migrates, and opens the store.
func openDatabase(ctx context.Context, d dbFlags, log *slog.Logger) (*database, error) {
	db := &database{url: d.url, stop: func() {}}
	if db.url == "" {
		c, err := embedded.Start(ctx, d.dataDir, "fhir", log)
		if err != nil {
			return nil, err
		}
		db.url = c.URL("fhir")
		db.stop = func() {
			if err := c.Stop(context.WithoutCancel(ctx)); err != nil {
				log.Error("stopping the embedded cluster", "err", err)
			}
		}
	}
	if err := storage.Migrate(ctx, db.url); err != nil {
		db.stop()
		return nil, err
	}
	store, err := storage.Open(ctx, db.url, storage.Options{MaxConns: storage.ServerMaxConns(),
		StatementTimeout: d.budget.StatementTimeout, WriteTimeout: d.budget.WriteTimeout}, log)
	if err != nil {
		db.stop()
		return nil, err
	}
	db.store = store
	// Every command that writes resources encrypts what must be encrypted
	// at rest: the field keys come with the store.
	kp, err := d.keys(ctx)
	if err != nil {
		db.close()
		return nil, err
	}
	cipher, err := keys.New(store).Cipher(ctx, kp)
	if err != nil {
		db.close()
		return nil, err
	}
	store.SetFieldCipher(cipher)
	db.cipher = cipher
	return db, nil
}

func (db *database) close() {
	db.store.Close()
	db.stop()
}

// openCommand parses an admin command's flags, the storage flags and
// those extra registers, and opens the database.
func openCommand(ctx context.Context, name string, args []string, log *slog.Logger, extra func(*flag.FlagSet)) (*database, dbFlags, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	var d dbFlags
	d.register(fs)
	if extra != nil {
		extra(fs)
	}
	if err := fs.Parse(args); err != nil {
		return nil, d, usageError(err.Error())
	}
	db, err := openDatabase(ctx, d, log)
	return db, d, err
}

func migrate(ctx context.Context, args []string, out interface{ Write([]byte) (int, error) }, log *slog.Logger) error {
	db, _, err := openCommand(ctx, "migrate", args, log, nil)
	if err != nil {
		return err
	}
	defer db.close()
	fmt.Fprintf(out, "migrations applied (schema at %d)\n", storage.LatestMigration())
	return nil
}
