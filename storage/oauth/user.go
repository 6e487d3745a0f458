package oauth

import (
	"context"
	"fmt"
	"time"

	"github.com/fhirserver/fhirserver/storage"
)

// User is a person who signs in on the authorization pages.
type User struct {
	Username     string
	PasswordHash string
	Role         string
	FHIRUser     string // Practitioner/ID, Patient/ID, ...; empty when none
}

// PutUser registers a user; storage.ErrConflict when the username is taken.
func (s *Store) PutUser(ctx context.Context, u User) error {
	var fhirUser *string
	if u.FHIRUser != "" {
		fhirUser = &u.FHIRUser
	}
	_, err := s.db.Exec(ctx, storage.AdminAudited(`INSERT INTO app_user (username, password_hash, role, fhir_user) VALUES ($1, $2, $3, $4)
		RETURNING 'user:' || username || ' role:' || role AS target`, "user.create", 4),
		u.Username, u.PasswordHash, u.Role, fhirUser, storage.Actor(ctx))
	if storage.IsUniqueViolation(err) {
		return storage.ErrConflict
	}
	if err != nil {
		return fmt.Errorf("storage: put user: %w", err)
	}
	return nil
}

// UserForLogin reads a user together with when the lockouts in force on
// lockKeys end (zero when none), in one query whether or not the user
// exists, so that the answer takes as long either way. storage.ErrNotFound
// for an unknown name, with the lockout still read.
func (s *Store) UserForLogin(ctx context.Context, username string, lockKeys []string) (User, time.Time, error) {
	u := User{Username: username}
	var hash, role, fhirUser *string
	var until *time.Time
	err := s.db.QueryRow(ctx, `
		SELECT `+authLockedUntil("$2")+`, u.password_hash, u.role, u.fhir_user
		FROM (SELECT $1::text AS name) q LEFT JOIN app_user u ON u.username = q.name`, username, lockKeys).Scan(&until, &hash, &role, &fhirUser)
	if err != nil {
		return u, time.Time{}, fmt.Errorf("storage: user: %w", err)
	}
	if hash == nil {
		return u, orZero(until), storage.ErrNotFound
	}
	u.PasswordHash, u.Role = *hash, *role
	if fhirUser != nil {
		u.FHIRUser = *fhirUser
	}
	return u, orZero(until), nil
}

// User reads a user; storage.ErrNotFound for an unknown name.
func (s *Store) User(ctx context.Context, username string) (User, error) {
	u, _, err := s.UserForLogin(ctx, username, nil)
	return u, err
}

// LoginAttempt records a sign-in attempt. A success also forgets the
// failures counted against resetKey (the user's), unless they locked it:
// the lockout counts failures since the last success.
func (s *Store) LoginAttempt(ctx context.Context, username string, success bool, resetKey string) error {
	_, err := s.db.Exec(ctx, `
		WITH reset AS (
		  UPDATE auth_limit SET failures = '{}' WHERE $2 AND key = $3 AND NOT coalesce(locked_until > now(), false)
		)
		INSERT INTO login_attempt (username, success) VALUES ($1, $2)`, username, success, resetKey)
	if err != nil {
		return fmt.Errorf("storage: login attempt: %w", err)
	}
	return nil
}
