package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/fhirserver/fhirserver/smart"
)

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func clientsAdd(ctx context.Context, args []string, out io.Writer, log *slog.Logger) error {
	fs := flag.NewFlagSet("clients add", flag.ContinueOnError)
	var d dbFlags
	d.register(fs)
	var c smart.Client
	var jwksFile, scope string
	var redirects, grants listFlag
	fs.StringVar(&c.ID, "id", "", "client id (required)")
	fs.StringVar(&c.Secret, "secret", "", "client secret; generated and printed once when omitted for a confidential client")
	fs.StringVar(&jwksFile, "jwks-file", "", "JWKS file of the client's public keys")
	fs.BoolVar(&c.Public, "public", false, "a public client (no secret)")
	fs.Var(&redirects, "redirect-uri", "a registered redirect URI (repeatable)")
	fs.StringVar(&scope, "scope", "", "scopes the client may be granted, space separated")
	fs.Var(&grants, "grant-type", "an allowed grant type (repeatable)")
	fs.StringVar(&c.LaunchURL, "launch-url", "", "the app's launch page, where an EHR launch sends the browser")
	fs.StringVar(&c.JWKSURI, "jwks-uri", "", "where the client publishes its public keys (private_key_jwt)")
	fs.BoolVar(&c.ResourceServer, "resource-server", false, "a resource server, which may introspect every client's tokens (others only their own)")
	if err := fs.Parse(args); err != nil {
		return usageError(err.Error())
	}
	if c.ID == "" {
		return usageError("clients add: --id is required")
	}
	if jwksFile != "" {
		b, err := os.ReadFile(jwksFile)
		if err != nil {
			return err
		}
		c.JWKS = b
	}
	c.RedirectURIs, c.GrantTypes, c.Scopes = redirects, grants, strings.Fields(scope)
	provider, done, err := adminProvider(ctx, d, log)
	if err != nil {
		return err
	}
	defer done()
	secret, err := provider.RegisterClient(ctx, c)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "client %s registered\n", c.ID)
	if secret != "" && c.Secret == "" {
		fmt.Fprintf(out, "secret: %s\n(shown once; it is stored hashed)\n", secret)
	}
	return nil
}
