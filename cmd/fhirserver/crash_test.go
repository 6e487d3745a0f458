package main_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// crashBundle is a transaction of n Observations that all carry the
// identifier urn:crash|tag, so a search tells how many of them exist.
func crashBundle(tag string, n int) string {
	var entries []string
	for i := 0; i < n; i++ {
		entries = append(entries, fmt.Sprintf(`{"fullUrl":"urn:uuid:00000000-0000-4000-8000-%012d","resource":{"resourceType":"Observation","status":"final",
			"code":{"text":"crash test"},"identifier":[{"system":"urn:crash","value":%q}],"valueQuantity":{"value":%d.25}},
			"request":{"method":"POST","url":"Observation"}}`, i, tag, i))
	}
	return `{"resourceType":"Bundle","type":"transaction","entry":[` + strings.Join(entries, ",") + `]}`
}

func countTagged(t *testing.T, s *server, tok, tag string) int {
	status, body := s.fhir(t, tok, "GET", "/Observation?identifier=urn:crash%7C"+tag+"&_count=1000", "")
	require.Equal(t, 200, status, "%s", body)
	var b struct{ Total *int }
	require.NoError(t, json.Unmarshal(body, &b))
	require.NotNil(t, b.Total)
	return *b.Total
}

// kill -9 the server in the middle of a large ingest, then restart it:
// every acknowledged transaction is complete and no transaction is partial.
// Then kill -9 PostgreSQL itself: committed data survives that too.
func TestCrashDuringIngest(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test")
	}
	dir := dataDir(t)
	out, err := fhirserver(t, "clients", "add", "--data-dir", dir, "--id", "ingest", "--secret", "x", "--scope", "system/*.*")
	require.NoError(t, err, out)
	s := serve(t, dir)
	tok := s.token(t, "ingest", "x", "system/*.*")

	const bundles, perBundle, workers = 60, 50, 6
	var mu sync.Mutex
	acked := map[string]bool{}
	var wg sync.WaitGroup
	next := make(chan int, bundles)
	for i := 0; i < bundles; i++ {
		next <- i
	}
	close(next)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				tag := fmt.Sprintf("b%d", i)
				status, _, err := tryPost(s, tok, crashBundle(tag, perBundle))
				if err != nil {
					return // the server is gone
				}
				if status == 200 {
					mu.Lock()
					acked[tag] = true
					mu.Unlock()
				}
			}
		}()
	}
	for {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 5 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	require.NoError(t, s.cmd.Process.Signal(syscall.SIGKILL))
	<-s.exited
	wg.Wait()
	require.Less(t, len(acked), bundles, "the crash came before the ingest finished")

	s = serve(t, dir)
	tok = s.token(t, "ingest", "x", "system/*.*")
	complete := checkAllOrNothing(t, s, tok, bundles, perBundle, acked)
	t.Logf("%d acknowledged, %d complete after the crash", len(acked), complete)

	pid, err := postmasterPID(dir)
	require.NoError(t, err)
	require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
	s.kill()
	for i := 0; i < 100 && syscall.Kill(pid, 0) == nil; i++ {
		time.Sleep(50 * time.Millisecond)
	}
	s = serve(t, dir)
	tok = s.token(t, "ingest", "x", "system/*.*")
	assert.Equal(t, complete, checkAllOrNothing(t, s, tok, bundles, perBundle, acked), "PostgreSQL's crash lost nothing committed")
	_, err = os.Stat(filepath.Join(dir, "pg"))
	require.NoError(t, err)
}

func checkAllOrNothing(t *testing.T, s *server, tok string, bundles, perBundle int, acked map[string]bool) int {
	complete := 0
	var partial []string
	for i := 0; i < bundles; i++ {
		tag := fmt.Sprintf("b%d", i)
		n := countTagged(t, s, tok, tag)
		switch {
		case n == perBundle:
			complete++
		case n != 0:
			partial = append(partial, fmt.Sprintf("%s:%d", tag, n))
		case acked[tag]:
			t.Errorf("acknowledged transaction %s is missing", tag)
		}
	}
	sort.Strings(partial)
	assert.Empty(t, partial, "partial transactions")
	return complete
}

func tryPost(s *server, tok, body string) (int, []byte, error) {
	req, err := newRequest("POST", s.root+"/fhir", body, tok)
	if err != nil {
		return 0, nil, err
	}
	return doRequest(req)
}

// The power loss: kill -9 the server and its PostgreSQL together and
// restart at once, while the postmaster may still be dying and its children
// still hold its shared memory. The restart recovers what was committed and
// the audit chains still verify.
func TestRestartAtOnceAfterKillingServerAndPostgres(t *testing.T) {
	dir := dataDir(t)
	out, err := fhirserver(t, "clients", "add", "--data-dir", dir, "--id", "app", "--secret", "s3cret", "--scope", "system/*.cruds")
	require.NoError(t, err, out)
	s := serve(t, dir)
	for round := 0; round < 3; round++ {
		tok := s.token(t, "app", "s3cret", "system/Patient.cruds")
		id := fmt.Sprintf("kept%d", round)
		status, body := s.fhir(t, tok, "PUT", "/Patient/"+id, `{"resourceType":"Patient","id":"`+id+`"}`)
		require.Equal(t, 201, status, "%s", body)

		pid, err := postmasterPID(dir)
		require.NoError(t, err)
		require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
		s.kill()
		s = serve(t, dir)
		tok = s.token(t, "app", "s3cret", "system/Patient.cruds")
		for i := 0; i <= round; i++ {
			status, body = s.fhir(t, tok, "GET", fmt.Sprintf("/Patient/kept%d", i), "")
			require.Equal(t, 200, status, "round %d: %s", round, body)
		}
	}
	out, err = fhirserver(t, "audit", "verify", "--data-dir", dir)
	require.NoError(t, err, out)
	assert.Contains(t, out, "every chain intact")
}
