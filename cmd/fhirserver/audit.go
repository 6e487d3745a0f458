package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"

	"github.com/fhirserver/fhirserver/storage"
)

// auditStripes is how many chains the audit log writes in parallel.
const auditStripes = 4

// openAudit opens the audit log under the key the key provider guards.
func openAudit(ctx context.Context, d dbFlags, db *database) (*storage.AuditLog, error) {
	kp, err := d.keys()
	if err != nil {
		return nil, err
	}
	key, err := db.store.AuditKey(ctx, kp)
	if err != nil {
		return nil, err
	}
	return db.store.OpenAuditLog(ctx, key, auditStripes)
}

// auditVerify recomputes every audit chain; a break exits non-zero.
func auditVerify(ctx context.Context, args []string, out io.Writer, log *slog.Logger) error {
	fs := flag.NewFlagSet("audit verify", flag.ContinueOnError)
	var d dbFlags
	d.register(fs)
	if err := fs.Parse(args); err != nil {
		return usageError(err.Error())
	}
	db, err := openDatabase(ctx, d, log)
	if err != nil {
		return err
	}
	defer db.close()
	kp, err := d.keys()
	if err != nil {
		return err
	}
	key, err := db.store.AuditKey(ctx, kp)
	if err != nil {
		return err
	}
	rows, broken, err := db.store.VerifyAudit(ctx, key)
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
