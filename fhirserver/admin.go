package fhirserver

import (
	"context"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/fhirserver/fhirserver/outcome"
	"github.com/fhirserver/fhirserver/resources/access"
	"github.com/fhirserver/fhirserver/storage"
)

// RoleAdmin edits role permissions.
type RoleAdmin interface {
	AllRolePermissions(ctx context.Context) (map[string]map[string]string, error)
	SetRolePermissions(ctx context.Context, role, typ, perms string) error
}

// adminRoutes mount the admin API: role permissions as data.
//
//	GET /admin/roles                      every role's permissions by type
//	PUT /admin/roles/{role}/{type}        {"permissions": "rs"} sets them exactly
func (a *app) adminRoutes(e *echo.Echo) {
	if a.d.RoleAdmin == nil {
		return
	}
	e.GET("/admin/roles", a.listRoles, a.admin)
	e.PUT("/admin/roles/:role/:type", a.setRole, a.admin)
}

// admin lets through only an admin user's token with the admin scope.
func (a *app) admin(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		caller, err := a.auth.Authenticate(c.Request())
		if err != nil {
			return err
		}
		if !caller.Admin {
			return outcome.E(outcome.Forbidden, "the admin API takes the token of a user of role %q granted the admin scope", access.AdminRole)
		}
		c.Set(callerKey, caller)
		return next(c)
	}
}

func (a *app) listRoles(c echo.Context) error {
	all, err := a.d.RoleAdmin.AllRolePermissions(c.Request().Context())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, all)
}

func (a *app) setRole(c echo.Context) error {
	var body struct {
		Permissions *string `json:"permissions"`
	}
	if err := c.Bind(&body); err != nil || body.Permissions == nil {
		return outcome.E(outcome.Invalid, `the body must be {"permissions": "<letters among cruds>"}`)
	}
	role, typ := c.Param("role"), c.Param("type")
	ctx := storage.WithActor(c.Request().Context(), "user:"+callerOf(c).User)
	if err := a.d.RoleAdmin.SetRolePermissions(ctx, role, typ, *body.Permissions); err != nil {
		return outcome.E(outcome.Invalid, "%v", err)
	}
	if a.roles != nil {
		a.roles.Forget(role) // at once here; other servers hear of it by NOTIFY
	}
	return c.NoContent(http.StatusNoContent)
}
