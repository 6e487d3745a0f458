package fhirserver_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// fakeVideo is a video provider in memory, which a test can make fail.
type fakeVideo struct {
	name  string
	mu    sync.Mutex
	fail  bool
	rooms map[string]bool
	n     int
}

func (f *fakeVideo) Name() string { return f.name }

func (f *fakeVideo) CreateRoom(_ context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail {
		return errors.New("provider down")
	}
	if f.rooms == nil {
		f.rooms = map[string]bool{}
	}
	f.rooms[name] = true
	return nil
}

func (f *fakeVideo) Token(room, identity, _ string, ttl time.Duration) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail || !f.rooms[room] {
		return "", errors.New("no such room")
	}
	f.n++
	return "token:" + f.name + ":" + room + ":" + identity + ":" + ttl.String(), nil
}

func (f *fakeVideo) EndRoom(_ context.Context, room string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.rooms, room)
	return nil
}

func (f *fakeVideo) setFailing(v bool) {
	f.mu.Lock()
	f.fail = v
	f.mu.Unlock()
}

// notified records the clinician notifications.
type notified struct {
	mu   sync.Mutex
	sent []string
}

func (n *notified) PatientWaiting(_ context.Context, practitioner, encounter string, position int) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.sent = append(n.sent, fmt.Sprintf("%s %s %d", practitioner, encounter, position))
	return nil
}

func (n *notified) all() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.sent...)
}

func (f *fakeVideo) roomCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.rooms)
}
