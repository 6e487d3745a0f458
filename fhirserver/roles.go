package fhirserver

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// RoleStore keeps the role permissions and says when they change.
type RoleStore interface {
	RolePermissions(ctx context.Context, role string) (map[string]string, error)
	ListenRolePermissions(ctx context.Context, ready func(), changed func(role string)) error
}

// Roles answers what a role may do, from the database, caching a role's
// permissions only while it hears of every change (LISTEN), so that a
// change takes effect for the next request without a restart.
type Roles struct {
	db        RoleStore
	log       *slog.Logger
	mu        sync.Mutex
	cache     map[string]map[string]string
	listening bool
}

// NewRoles starts listening for changes until ctx ends.
func NewRoles(ctx context.Context, db RoleStore, log *slog.Logger) *Roles {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &Roles{db: db, log: log, cache: map[string]map[string]string{}}
	go r.listen(ctx)
	return r
}

func (r *Roles) listen(ctx context.Context) {
	for ctx.Err() == nil {
		err := r.db.ListenRolePermissions(ctx, func() { r.setListening(true) }, func(role string) {
			r.mu.Lock()
			delete(r.cache, role)
			r.mu.Unlock()
		})
		r.setListening(false)
		if ctx.Err() == nil {
			r.log.Warn("role permission changes unheard; reading them per request until listening again", "err", err)
			time.Sleep(time.Second)
		}
	}
}

func (r *Roles) setListening(on bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.listening = on
	r.cache = map[string]map[string]string{}
}

// Forget drops a role's cached permissions.
func (r *Roles) Forget(role string) {
	r.mu.Lock()
	delete(r.cache, role)
	r.mu.Unlock()
}

// For returns what role may do to each type ("*" for all).
func (r *Roles) For(ctx context.Context, role string) (map[string]string, error) {
	r.mu.Lock()
	perms, ok := r.cache[role]
	listening := r.listening
	r.mu.Unlock()
	if ok {
		return perms, nil
	}
	perms, err := r.db.RolePermissions(ctx, role)
	if err != nil {
		return nil, err
	}
	if listening {
		r.mu.Lock()
		if r.listening {
			r.cache[role] = perms
		}
		r.mu.Unlock()
	}
	return perms, nil
}
