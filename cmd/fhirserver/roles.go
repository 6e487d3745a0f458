package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"sort"
)

// rolesCommand is `roles list` and `roles set`: role permissions as data.
func rolesCommand(ctx context.Context, args []string, out io.Writer, log *slog.Logger) error {
	if len(args) == 0 || (args[0] != "list" && args[0] != "set") {
		return usageError("usage: fhirserver roles list | roles set --role R --type T --permissions cruds")
	}
	fs := flag.NewFlagSet("roles "+args[0], flag.ContinueOnError)
	var d dbFlags
	d.register(fs)
	var role, typ, perms string
	fs.StringVar(&role, "role", "", "the role (roles set)")
	fs.StringVar(&typ, "type", "", `a resource type, or "*" for every type (roles set)`)
	fs.StringVar(&perms, "permissions", "", "what the role may do to the type: letters among c, r, u, d, s; empty takes everything away (roles set)")
	if err := fs.Parse(args[1:]); err != nil {
		return usageError(err.Error())
	}
	if args[0] == "set" && (role == "" || typ == "") {
		return usageError("roles set: --role and --type are required")
	}
	db, err := openDatabase(ctx, d, log)
	if err != nil {
		return err
	}
	defer db.close()
	if args[0] == "set" {
		if err := db.store.SetRolePermissions(ctx, role, typ, perms); err != nil {
			return err
		}
		fmt.Fprintf(out, "role %s may now %q on %s\n", role, perms, typ)
		return nil
	}
	all, err := db.store.AllRolePermissions(ctx)
	if err != nil {
		return err
	}
	roles := make([]string, 0, len(all))
	for r := range all {
		roles = append(roles, r)
	}
	sort.Strings(roles)
	for _, r := range roles {
		types := make([]string, 0, len(all[r]))
		for t := range all[r] {
			types = append(types, t)
		}
		sort.Strings(types)
		for _, t := range types {
			fmt.Fprintf(out, "%s\t%s\t%s\n", r, t, all[r][t])
		}
	}
	return nil
}
