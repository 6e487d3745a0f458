// Command fhirserver runs the SMART-on-FHIR R4 server and its admin
// commands. The command line is the operator contract in the README.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"os/user"
	"strconv"
	"syscall"

	"github.com/fhirserver/fhirserver/storage"
)

const usage = `usage: fhirserver <command> [flags]

commands:
  serve          run the server (applies migrations first)
  migrate        apply migrations and exit
  clients add    register an OAuth2 client
  users add      register a user who can log in on the authorization page
  launch create  create an EHR launch context and print its launch value
  keys rotate    make a new id_token signing key
  keys rewrap    move the audit and data keys to a new key file or AWS KMS key
  keys rotate-data  make a new data key for field encryption at rest
  roles list|set show or change what each role may do to each resource type
  noshow policy list|set  show or change what the no-show job does per visit type
  load PATH...   load FHIR bundles and NDJSON files as transactions
  audit verify   verify the audit hash chains

Every command takes --database-url (DATABASE_URL) or --data-dir (FHIR_DATA_DIR).
Run "fhirserver <command> -h" for its flags.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: logLevel()}))
	err := run(ctx, os.Args[1:], os.Stdout, log)
	var ue usageError
	switch {
	case errors.As(err, &ue):
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	case err != nil:
		fmt.Fprintln(os.Stderr, "fhirserver:", err)
		os.Exit(1)
	}
}

type usageError string

func (u usageError) Error() string { return string(u) }

func logLevel() slog.Level {
	var l slog.Level
	if err := l.UnmarshalText([]byte(os.Getenv("FHIR_LOG_LEVEL"))); err != nil {
		return slog.LevelInfo
	}
	return l
}

func run(ctx context.Context, args []string, out io.Writer, log *slog.Logger) error {
	if len(args) == 0 {
		return usageError(usage)
	}
	cmd, rest := args[0], args[1:]
	ctx = storage.WithActor(ctx, operator())
	switch {
	case cmd == "serve":
		return serve(ctx, rest, log)
	case cmd == "migrate":
		return migrate(ctx, rest, out, log)
	case cmd == "load":
		return load(ctx, rest, out, log)
	case cmd == "clients" && len(rest) > 0 && rest[0] == "add":
		return clientsAdd(ctx, rest[1:], out, log)
	case cmd == "users" && len(rest) > 0 && rest[0] == "add":
		return usersAdd(ctx, rest[1:], out, log)
	case cmd == "launch" && len(rest) > 0 && rest[0] == "create":
		return launchCreate(ctx, rest[1:], out, log)
	case cmd == "roles":
		return rolesCommand(ctx, rest, out, log)
	case cmd == "noshow":
		return noshowCommand(ctx, rest, out, log)
	case cmd == "keys" && len(rest) > 0 && rest[0] == "rewrap":
		return keysRewrap(ctx, rest[1:], out, log)
	case cmd == "keys" && len(rest) > 0 && rest[0] == "rotate-data":
		return keysRotateData(ctx, rest[1:], out, log)
	case cmd == "keys" && len(rest) > 0 && rest[0] == "rotate":
		return keysRotate(ctx, rest[1:], out, log)
	case cmd == "audit" && len(rest) > 0 && rest[0] == "verify":
		return auditVerify(ctx, rest[1:], out, log)
	case cmd == "-h" || cmd == "--help" || cmd == "help":
		fmt.Fprint(out, usage)
		return nil
	}
	return usageError(fmt.Sprintf("unknown command %q\n\n%s", cmd, usage))
}

// operator names who runs an admin command, for the admin audit.
func operator() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return "cli:" + u.Username
	}
	return "cli:uid-" + strconv.Itoa(os.Getuid())
}
