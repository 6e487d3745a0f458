package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"

	"github.com/fhirserver/fhirserver/storage/audit"
	"github.com/fhirserver/fhirserver/storage/keys"
)

// openAudit opens the audit log under the key the key provider guards.
func openAudit(ctx context.Context, d dbFlags, db *database) (*audit.Log, []byte, error) {
	kp, err := d.keys(ctx)
	if err != nil {
		return nil, nil, err
	}
	chains := audit.New(db.store)
	key, err := chains.Key(ctx, kp)
	if err != nil {
		return nil, nil, err
	}
	log, err := chains.Open(ctx, key, audit.Stripes)
	return log, key, err
}

// auditVerify recomputes every audit chain; a break exits non-zero.
func auditVerify(ctx context.Context, args []string, out io.Writer, log *slog.Logger) error {
	db, d, err := openCommand(ctx, "audit verify", args, log, nil)
	if err != nil {
		return err
	}
	defer db.close()
	kp, err := d.keys(ctx)
	if err != nil {
		return err
	}
	chains := audit.New(db.store)
	key, err := chains.Key(ctx, kp)
	if err != nil {
		return err
	}
	rows, broken, err := chains.Verify(ctx, key)
	if err != nil {
		return err
	}
	if broken != nil {
		fmt.Fprintf(out, "audit: BROKEN after %d good rows: %v\n", rows, broken)
		return fmt.Errorf("audit verify: %w", broken)
	}
	fmt.Fprintf(out, "audit: %d rows verified, every chain intact\n", rows)
	return nil
}

// keysRewrap moves the audit key to another key-encryption key: a new key
// file or an AWS KMS key. Configure the server with the new one after.
func keysRewrap(ctx context.Context, args []string, out io.Writer, log *slog.Logger) error {
	var toFile, toKMS, toEndpoint string
	db, d, err := openCommand(ctx, "keys rewrap", args, log, func(fs *flag.FlagSet) {
		fs.StringVar(&toFile, "to-key-file", "", "the new key file (created if missing)")
		fs.StringVar(&toKMS, "to-kms-key-id", "", "the new AWS KMS key")
		fs.StringVar(&toEndpoint, "to-kms-endpoint", "", "its KMS endpoint, if not AWS's")
	})
	if err != nil {
		return err
	}
	defer db.close()
	if (toFile == "") == (toKMS == "") {
		return usageError("keys rewrap: give one of --to-key-file and --to-kms-key-id")
	}
	from, err := d.keys(ctx)
	if err != nil {
		return err
	}
	to, err := openKeys(ctx, toKMS, toEndpoint, toFile, d.dataDir)
	if err != nil {
		return err
	}
	if err := audit.New(db.store).RewrapKey(ctx, from, to); err != nil {
		return err
	}
	if err := keys.New(db.store).Rewrap(ctx, from, to); err != nil {
		return err
	}
	fmt.Fprintf(out, "the audit key is now wrapped by %s; run the server with that key from now on\n", to.ID())
	return nil
}

// keysRotateData makes a new field encryption key: new writes are sealed
// under it, what older keys sealed stays readable and searchable.
func keysRotateData(ctx context.Context, args []string, out io.Writer, log *slog.Logger) error {
	db, _, err := openCommand(ctx, "keys rotate-data", args, log, nil)
	if err != nil {
		return err
	}
	defer db.close()
	g, err := db.cipher.Rotate(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "data key generation %d seals new writes (running servers within a second); the older ones stay for what they sealed\n", g)
	return nil
}
