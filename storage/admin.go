package storage

import (
	"context"
	"strconv"
)

type actorKey struct{}

// WithActor names who performs the administrative actions made with ctx
// ("cli:alice", "user:admin"): the admin audit records it.
func WithActor(ctx context.Context, actor string) context.Context {
	return context.WithValue(ctx, actorKey{}, actor)
}

func actorOf(ctx context.Context) string {
	if a, ok := ctx.Value(actorKey{}).(string); ok && a != "" {
		return a
	}
	return "unknown"
}

// adminAudited wraps an INSERT ... RETURNING <target> so that the same
// statement records the action in admin_audit: the change and its record
// commit together or not at all. The actor is the statement's last
// argument.
func adminAudited(insert, action string, nargs int) string {
	return `WITH changed AS (` + insert + `)
		INSERT INTO admin_audit (actor, action, target) SELECT $` + strconv.Itoa(nargs+1) + `, '` + action + `', target FROM changed`
}
