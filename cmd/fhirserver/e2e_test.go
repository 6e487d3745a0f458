package main_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirserver/fhirserver/storage/embedded"
)

// These tests run the real binary on the embedded default, the way an
// operator does: each test has its own data dir and PostgreSQL cluster.

var binary string

func TestMain(m *testing.M) {
	// The data dirs of the tests go below this one, which the cluster's
	// account can reach.
	dir, err := embedded.TempDir("fhirserver-e2e-")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "fhirserver")
	out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// dataDir is a fresh data dir the cluster's account can reach.
func dataDir(t *testing.T) string {
	d := filepath.Join(filepath.Dir(binary), strings.ReplaceAll(t.Name(), "/", "_"))
	require.NoError(t, os.MkdirAll(d, 0o755))
	t.Cleanup(func() {
		stopCluster(d)
		os.RemoveAll(d)
	})
	return d
}

// stopCluster stops whatever cluster still runs in a data dir.
func stopCluster(dir string) {
	pid, err := postmasterPID(dir)
	if err == nil {
		_ = syscall.Kill(pid, syscall.SIGQUIT)
		for i := 0; i < 100 && syscall.Kill(pid, 0) == nil; i++ {
			time.Sleep(50 * time.Millisecond)
		}
	}
}

func postmasterPID(dir string) (int, error) {
	b, err := os.ReadFile(filepath.Join(dir, "pg", "postmaster.pid"))
	if err != nil {
		return 0, err
	}
	var pid int
	_, err = fmt.Sscan(strings.SplitN(string(b), "\n", 2)[0], &pid)
	return pid, err
}

func fhirserver(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), "DATABASE_URL=")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

type server struct {
	cmd    *exec.Cmd
	root   string
	stderr *bytes.Buffer
	exited chan error
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().String()
}

// serve starts the binary and waits until it is ready.
func serve(t *testing.T, dir string) *server {
	t.Helper()
	addr := freeAddr(t)
	s := &server{root: "http://" + addr, stderr: &bytes.Buffer{}, exited: make(chan error, 1)}
	s.cmd = exec.Command(binary, "serve", "--data-dir", dir, "--addr", addr)
	s.cmd.Env = append(os.Environ(), "DATABASE_URL=")
	s.cmd.Stderr = s.stderr
	require.NoError(t, s.cmd.Start())
	go func() { s.exited <- s.cmd.Wait() }()
	t.Cleanup(func() { s.kill() })
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if r, err := http.Get(s.root + "/readyz"); err == nil {
			r.Body.Close()
			if r.StatusCode == 200 {
				return s
			}
		}
		select {
		case err := <-s.exited:
			t.Fatalf("serve exited: %v\n%s", err, s.stderr)
		case <-time.After(100 * time.Millisecond):
		}
	}
	t.Fatalf("serve not ready in time\n%s", s.stderr)
	return nil
}

func (s *server) kill() {
	if s.cmd.ProcessState == nil {
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
}

// token discovers the token endpoint and runs the client-credentials grant.
func (s *server) token(t *testing.T, id, secret, scope string) string {
	t.Helper()
	var conf struct {
		TokenEndpoint string `json:"token_endpoint"`
	}
	getJSON(t, s.root+"/fhir/.well-known/smart-configuration", &conf)
	require.NotEmpty(t, conf.TokenEndpoint)
	req, _ := http.NewRequest("POST", conf.TokenEndpoint, strings.NewReader(url.Values{"grant_type": {"client_credentials"}, "scope": {scope}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(id, secret)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	body, _ := io.ReadAll(resp.Body)
	require.Equal(t, 200, resp.StatusCode, "%s", body)
	require.NoError(t, json.Unmarshal(body, &tok))
	return tok.AccessToken
}

func getJSON(t *testing.T, u string, v any) {
	t.Helper()
	resp, err := http.Get(u)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	require.NoError(t, json.NewDecoder(resp.Body).Decode(v))
}

func (s *server) fhir(t *testing.T, token, method, path, body string) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequestWithContext(context.Background(), method, s.root+"/fhir"+path, rd)
	if body != "" {
		req.Header.Set("Content-Type", "application/fhir+json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func TestServeOnTheEmbeddedDefault(t *testing.T) {
	dir := dataDir(t)
	out, err := fhirserver(t, "clients", "add", "--data-dir", dir, "--id", "app", "--secret", "s3cret", "--scope", "system/*.cruds")
	require.NoError(t, err, out)
	s := serve(t, dir)

	status, _ := s.fhir(t, "", "GET", "/Patient/x", "")
	assert.Equal(t, 401, status, "no token, no data")
	tok := s.token(t, "app", "s3cret", "system/Patient.cruds")
	status, body := s.fhir(t, tok, "PUT", "/Patient/x", `{"resourceType":"Patient","id":"x"}`)
	require.Equal(t, 201, status, "%s", body)
	status, _ = s.fhir(t, tok, "GET", "/Observation/y", "")
	assert.Equal(t, 403, status, "the token covers Patient only")
	// Every request above is in the audit log, whose chains verify while
	// the server runs.
	out, err = fhirserver(t, "audit", "verify", "--data-dir", dir)
	require.NoError(t, err, out)
	assert.Regexp(t, `audit: [1-9][0-9]* rows verified, every chain intact`, out)

	// an admin command joins the running cluster and leaves it running
	out, err = fhirserver(t, "clients", "add", "--data-dir", dir, "--id", "second", "--scope", "system/*.rs")
	require.NoError(t, err, out)
	assert.Contains(t, out, "secret:", "a generated secret is shown once")
	status, _ = s.fhir(t, tok, "GET", "/Patient/x", "")
	assert.Equal(t, 200, status)

	// SIGTERM: in-flight work finishes, the server and its cluster stop
	big := crashBundle("inflight", 2000)
	inflight := make(chan int, 1)
	all := s.token(t, "app", "s3cret", "system/*.cruds")
	go func() {
		req, _ := newRequest("POST", s.root+"/fhir", big, all)
		status, _, _ := doRequest(req)
		inflight <- status
	}()
	time.Sleep(300 * time.Millisecond)
	require.NoError(t, s.cmd.Process.Signal(syscall.SIGTERM))
	assert.Equal(t, 200, <-inflight, "the transaction in flight at SIGTERM completed")
	select {
	case err := <-s.exited:
		require.NoError(t, err, "%s", s.stderr)
	case <-time.After(60 * time.Second):
		t.Fatal("serve did not stop")
	}
	_, err = os.Stat(filepath.Join(dir, "pg", "postmaster.pid"))
	assert.True(t, os.IsNotExist(err), "the embedded cluster was stopped")
	assert.NotContains(t, s.stderr.String(), `"x"`, "logs carry no resource ids from URLs")
}

func TestCommandsWithoutServer(t *testing.T) {
	dir := dataDir(t)
	for i := 0; i < 2; i++ {
		out, err := fhirserver(t, "migrate", "--data-dir", dir)
		require.NoError(t, err, out)
	}
	_, err := os.Stat(filepath.Join(dir, "pg", "postmaster.pid"))
	assert.True(t, os.IsNotExist(err), "an admin command stops the cluster it started")

	out, err := fhirserver(t, "users", "add", "--data-dir", dir, "--username", "doc", "--password", "correct horse", "--role", "clinician", "--fhir-user", "Practitioner/dr1")
	require.NoError(t, err, out)
	assert.Contains(t, out, "user doc registered")
	assert.NotContains(t, out, "correct horse")
	_, err = fhirserver(t, "users", "add", "--data-dir", dir, "--username", "doc", "--password", "another one", "--role", "clinician")
	assert.Error(t, err, "a username is registered once")
	record := filepath.Join(t.TempDir(), "record.json")
	require.NoError(t, os.WriteFile(record, []byte(`{"resourceType":"Bundle","type":"transaction","entry":[
		{"resource":{"resourceType":"Patient","id":"p1"},"request":{"method":"PUT","url":"Patient/p1"}},
		{"resource":{"resourceType":"Encounter","id":"e1","status":"finished","class":{"code":"AMB"},"subject":{"reference":"Patient/p1"}},
		 "request":{"method":"PUT","url":"Encounter/e1"}}]}`), 0o644))
	out, err = fhirserver(t, "load", "--data-dir", dir, record)
	require.NoError(t, err, out)
	out, err = fhirserver(t, "launch", "create", "--data-dir", dir, "--patient", "p1", "--encounter", "e1")
	require.NoError(t, err, out)
	assert.Regexp(t, `(?m)^[A-Za-z0-9_-]{40,}$`, out, "an opaque launch value")
	out, err = fhirserver(t, "keys", "rotate", "--data-dir", dir)
	require.NoError(t, err, out)
	out, err = fhirserver(t, "audit", "verify", "--data-dir", dir)
	require.NoError(t, err, out)
	// The audit key moves to a new key file; the old one no longer opens it.
	newKey := filepath.Join(t.TempDir(), "kek")
	out, err = fhirserver(t, "keys", "rewrap", "--data-dir", dir, "--to-key-file", newKey)
	require.NoError(t, err, out)
	out, err = fhirserver(t, "audit", "verify", "--data-dir", dir, "--key-file", newKey)
	require.NoError(t, err, out)
	_, err = fhirserver(t, "audit", "verify", "--data-dir", dir)
	assert.Error(t, err, "the retired key file")
	// Every command now takes the new key file, which opens all the keys.
	out, err = fhirserver(t, "clients", "add", "--data-dir", dir, "--key-file", newKey, "--id", "web", "--public", "--redirect-uri", "https://app.example/cb",
		"--launch-url", "https://app.example/launch", "--scope", "launch openid fhirUser patient/*.rs")
	require.NoError(t, err, out)

	tests := []struct {
		name string
		args []string
	}{
		{"unknown command", []string{"frobnicate"}},
		{"clients without id", []string{"clients", "add", "--data-dir", dir}},
		{"load without paths", []string{"load", "--data-dir", dir}},
		{"users add without password", []string{"users", "add", "--data-dir", dir, "--username", "u", "--role", "clinician"}},
		{"users add with a short password", []string{"users", "add", "--data-dir", dir, "--username", "u", "--password", "short", "--role", "clinician"}},
		{"users add with a bad fhirUser", []string{"users", "add", "--data-dir", dir, "--username", "u", "--password", "long enough", "--role", "r", "--fhir-user", "Observation/1"}},
		{"launch with a reference", []string{"launch", "create", "--data-dir", dir, "--patient", "Patient/p1"}},
		{"launch for a patient the server does not hold", []string{"launch", "create", "--data-dir", dir, "--patient", "nobody"}},
		{"launch for an encounter the server does not hold", []string{"launch", "create", "--data-dir", dir, "--patient", "p1", "--encounter", "nothing"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := fhirserver(t, tc.args...)
			assert.Error(t, err, "exits non-zero")
		})
	}
}

func TestMissingBinariesAreExplained(t *testing.T) {
	cmd := exec.Command(binary, "migrate", "--data-dir", t.TempDir())
	cmd.Env = append(os.Environ(), "DATABASE_URL=", "FHIR_PG_BIN="+t.TempDir(), "PATH=/nonexistent")
	out, err := cmd.CombinedOutput()
	require.Error(t, err)
	assert.Contains(t, string(out), "initdb")
	assert.Contains(t, string(out), "apt-get install postgresql")
}
