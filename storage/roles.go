package storage

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

// RolePermissions returns what each resource type ("*" for all) allows a
// role: a subsequence of "cruds".
func (s *Store) RolePermissions(ctx context.Context, role string) (map[string]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT resource_type, string_agg(action, '' ORDER BY position(action IN 'cruds')) FROM role_permission WHERE role = $1 GROUP BY resource_type`, role)
	if err != nil {
		return nil, fmt.Errorf("storage: role permissions: %w", err)
	}
	out := map[string]string{}
	var typ, perms string
	_, err = pgx.ForEachRow(rows, []any{&typ, &perms}, func() error { out[typ] = perms; return nil })
	if err != nil {
		return nil, fmt.Errorf("storage: role permissions: %w", err)
	}
	return out, nil
}

// AllRolePermissions returns every role's permissions.
func (s *Store) AllRolePermissions(ctx context.Context) (map[string]map[string]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT role, resource_type, string_agg(action, '' ORDER BY position(action IN 'cruds')) FROM role_permission GROUP BY role, resource_type ORDER BY role, resource_type`)
	if err != nil {
		return nil, fmt.Errorf("storage: role permissions: %w", err)
	}
	out := map[string]map[string]string{}
	var role, typ, perms string
	_, err = pgx.ForEachRow(rows, []any{&role, &typ, &perms}, func() error {
		if out[role] == nil {
			out[role] = map[string]string{}
		}
		out[role][typ] = perms
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("storage: role permissions: %w", err)
	}
	return out, nil
}

// SetRolePermissions makes perms exactly what the role may do to the type,
// granting and revoking as needed, in one transaction recorded in the admin
// audit with ctx's actor.
func (s *Store) SetRolePermissions(ctx context.Context, role, typ, perms string) error {
	if role == "" || typ == "" || strings.Trim(perms, "cruds") != "" {
		return errors.New("storage: a role, a type and permissions among c, r, u, d, s are required")
	}
	actor := actorOf(ctx)
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `
			INSERT INTO role_permission_change (actor, role, resource_type, action, granted)
			SELECT $1, $2, $3, a, position(a IN $4) > 0
			FROM unnest(ARRAY['c', 'r', 'u', 'd', 's']) AS a
			WHERE (position(a IN $4) > 0) IS DISTINCT FROM
			      EXISTS (SELECT 1 FROM role_permission p WHERE p.role = $2 AND p.resource_type = $3 AND p.action = a)`,
			actor, role, typ, perms)
		if err != nil {
			return fmt.Errorf("storage: set role permissions: %w", err)
		}
		_, err = tx.Exec(ctx, `INSERT INTO admin_audit (actor, action, target, detail) VALUES ($1, 'role.permissions', $2, jsonb_build_object('type', $3::text, 'permissions', $4::text))`,
			actor, "role:"+role, typ, perms)
		return err
	})
}

// ListenRolePermissions calls changed whenever a role's permissions change,
// until ctx ends; it returns when the listening connection fails, so that
// the caller can stop trusting what it cached. The connection is its own,
// not the pool's, which it would hold for good.
func (s *Store) ListenRolePermissions(ctx context.Context, ready func(), changed func(role string)) error {
	conn, err := pgx.ConnectConfig(ctx, s.pool.Config().ConnConfig.Copy())
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "LISTEN role_permission"); err != nil {
		return err
	}
	ready()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		changed(n.Payload)
	}
}
