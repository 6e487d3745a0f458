package smart

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/crypto/argon2"

	"github.com/fhirserver/fhirserver/outcome"
	"github.com/fhirserver/fhirserver/storage"
	"github.com/fhirserver/fhirserver/storage/oauth"
)

// userStore keeps the people who sign in.
type userStore interface {
	PutUser(ctx context.Context, u oauth.User) error
	User(ctx context.Context, username string) (oauth.User, error)
	UserForLogin(ctx context.Context, username string, lockKeys []string) (oauth.User, time.Time, error)
	LoginAttempt(ctx context.Context, username string, success bool, resetKey string) error
}

// Argon2id parameters: OWASP's recommended minimum (19 MiB, 2 passes).
const (
	argonMemory  = 19 * 1024
	argonTime    = 2
	argonThreads = 1
	argonKeyLen  = 32
)

// User is a person to register.
type User struct {
	Username string
	Password string
	Role     string
	FHIRUser string // Practitioner/ID, Patient/ID, RelatedPerson/ID or Person/ID
}

var fhirUserTypes = []string{"Patient", "Practitioner", "PractitionerRole", "RelatedPerson", "Person"}

// AddUser registers a user with the password hashed by argon2id.
func (p *Provider) AddUser(ctx context.Context, u User) error {
	invalid := func(format string, args ...any) error { return outcome.E(outcome.Invalid, "user: "+format, args...) }
	switch {
	case u.Username == "" || strings.ContainsAny(u.Username, " \t\r\n"):
		return invalid("a username without spaces is required")
	case len(u.Password) < 8:
		return invalid("the password must have at least 8 characters")
	case u.Role == "":
		return invalid("a role is required")
	}
	if u.FHIRUser != "" {
		typ, id, ok := strings.Cut(u.FHIRUser, "/")
		if !ok || id == "" || strings.Contains(id, "/") || !contains(fhirUserTypes, typ) {
			return invalid("fhirUser must be one of %s followed by /id", strings.Join(fhirUserTypes, ", "))
		}
	}
	hash, err := hashPassword(u.Password)
	if err != nil {
		return err
	}
	err = p.db.PutUser(ctx, oauth.User{Username: u.Username, PasswordHash: hash, Role: u.Role, FHIRUser: u.FHIRUser})
	if errors.Is(err, storage.ErrConflict) {
		return outcome.E(outcome.Conflict, "a user named %q is already registered", u.Username)
	}
	return err
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func hashPassword(password string) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	b64 := base64.RawStdEncoding.EncodeToString
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads, b64(salt), b64(key)), nil
}

// checkPassword compares a password with a PHC argon2id hash in constant time.
func checkPassword(hash, password string) bool {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false
	}
	var version int
	var memory, passes uint32
	var threads uint8
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &memory, &passes, &threads); err != nil {
		return false
	}
	salt, err1 := base64.RawStdEncoding.DecodeString(parts[4])
	want, err2 := base64.RawStdEncoding.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(want) == 0 {
		return false
	}
	got := argon2.IDKey([]byte(password), salt, passes, memory, threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}

// dummyHash is checked for unknown users so that a sign-in takes as long
// whether or not the name exists.
var dummyHash, _ = hashPassword("not a password of anyone")

var errBadLogin = errors.New("the username or password is wrong")

// login checks a username and password under the limits on failures: a
// lockout in force (on the username, known or not, or on the source
// address) refuses it before the password is looked at, with the same
// answer whether or not the user exists; a failure counts against both.
func (p *Provider) login(ctx context.Context, a attempt, username, password string) (oauth.User, error) {
	u, until, err := p.db.UserForLogin(ctx, username, a.keys)
	known := err == nil
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return u, err
	}
	if !until.IsZero() {
		p.log.Warn("sign-in refused", "reason", "locked out")
		return u, &lockedOut{until: until}
	}
	hash := dummyHash
	if known {
		hash = u.PasswordHash
	}
	ok := checkPassword(hash, password) && known
	if err := p.db.LoginAttempt(ctx, username, ok, "user:"+username); err != nil {
		return u, err
	}
	if !ok {
		p.log.Warn("sign-in refused", "reason", "wrong username or password")
		p.fail(ctx, a)
		return u, errBadLogin
	}
	return u, nil
}
