package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"sort"

	schedstore "github.com/fhirserver/fhirserver/storage/scheduling"
)

// noshowCommand is `noshow policy set` and `noshow policy list`: what the
// no-show job does, per visit type.
func noshowCommand(ctx context.Context, args []string, out io.Writer, log *slog.Logger) error {
	const use = "usage: fhirserver noshow policy list | noshow policy set --visit-type V --grace-minutes N --action CANCEL|CONVERT_TO_ASYNC|HOLD"
	if len(args) < 2 || args[0] != "policy" || (args[1] != "list" && args[1] != "set") {
		return usageError(use)
	}
	fs := flag.NewFlagSet("noshow policy "+args[1], flag.ContinueOnError)
	var d dbFlags
	d.register(fs)
	var p schedstore.NoShowPolicy
	fs.StringVar(&p.VisitType, "visit-type", "", "the visit type (a code of the visit-type system); empty: appointments without one")
	fs.IntVar(&p.GraceMinutes, "grace-minutes", 15, "minutes after the start before the patient is a no-show")
	fs.StringVar(&p.Action, "action", "", "CANCEL, CONVERT_TO_ASYNC or HOLD")
	if err := fs.Parse(args[2:]); err != nil {
		return usageError(err.Error())
	}
	if args[1] == "set" && p.Action != "CANCEL" && p.Action != "CONVERT_TO_ASYNC" && p.Action != "HOLD" {
		return usageError("noshow policy set: --action must be CANCEL, CONVERT_TO_ASYNC or HOLD")
	}
	db, err := openDatabase(ctx, d, log)
	if err != nil {
		return err
	}
	defer db.close()
	if args[1] == "set" {
		if err := schedstore.New(db.store).PutNoShowPolicy(ctx, p); err != nil {
			return err
		}
		fmt.Fprintf(out, "visit type %q: %s after %d minutes\n", p.VisitType, p.Action, p.GraceMinutes)
		return nil
	}
	all, err := schedstore.New(db.store).NoShowPolicies(ctx)
	if err != nil {
		return err
	}
	types := make([]string, 0, len(all))
	for t := range all {
		types = append(types, t)
	}
	sort.Strings(types)
	for _, t := range types {
		fmt.Fprintf(out, "%q\t%d\t%s\n", t, all[t].GraceMinutes, all[t].Action)
	}
	return nil
}
