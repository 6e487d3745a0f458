package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
)

// The no-op server measures what one loopback HTTP hop costs on this
// machine, a cost no FHIR server can avoid and the bare lookup does not pay.
// It is this binary started again as a separate process (an in-process
// server would share the client's scheduler and look cheaper than any real
// server can be) that answers every GET with a fixed body of the mean
// resource size: no routing, no auth, no database.
const noopFlag = "-noop-server"

// noopMain serves until stdin closes, so that it never outlives the parent.
// It prints its address as the first line on stdout.
func noopMain(args []string) int {
	size, err := strconv.Atoi(strings.Join(args, ""))
	if err != nil || size < 0 || size > 1<<24 {
		fmt.Fprintln(os.Stderr, "fhirbench: "+noopFlag+" needs a body size in bytes")
		return 2
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "fhirbench:", err)
		return 1
	}
	fmt.Println(ln.Addr().String())
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}()
	body := noopBody(size)
	err = http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", fhirJSON)
		_, _ = w.Write(body)
	}))
	fmt.Fprintln(os.Stderr, "fhirbench:", err)
	return 1
}

// noopBody is a JSON object of exactly size bytes (at least its frame).
func noopBody(size int) []byte {
	const frame = `{"resourceType":"Basic","text":""}`
	pad := max(size-len(frame), 0)
	return []byte(`{"resourceType":"Basic","text":"` + strings.Repeat("x", pad) + `"}`)
}

// runNoop starts the no-op server and measures GETs of it at every level.
func runNoop(ctx context.Context, cfg config, size int) ([]levelResult, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, exe, noopFlag, strconv.Itoa(size))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("no-op server: %w", err)
	}
	defer func() { _ = stdin.Close(); _ = cmd.Wait() }()
	addr, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		return nil, fmt.Errorf("no-op server did not start: %w", err)
	}
	client := newHTTPClient(cfg.requestTimeout, max(64, maxOf(cfg.levels)))
	url := "http://" + strings.TrimSpace(addr) + "/"
	return measureLevels(ctx, cfg.levels, cfg.reads, cfg.warmup, noopRead(client, url), nil, ""), nil
}

// noopRead is a GET with the same client settings as the server's reads.
func noopRead(client *http.Client, url string) op {
	return func(ctx context.Context, _ *rand.Rand) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		req.Header.Set("Accept", fhirJSON)
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("no-op server: HTTP %d", resp.StatusCode)
		}
		return nil
	}
}

// meanResourceSize is the mean size of the timed resources, the body size
// the no-op server answers with.
func meanResourceSize(plan ingestPlan) (int, error) {
	total, n := 0, 0
	for _, job := range plan.bundles {
		var b struct {
			Entry []struct {
				Resource json.RawMessage `json:"resource"`
			} `json:"entry"`
		}
		if err := json.Unmarshal(job.body, &b); err != nil {
			return 0, fmt.Errorf("%s: %w", job.name, err)
		}
		for _, e := range b.Entry {
			total += len(e.Resource)
			n++
		}
	}
	if n == 0 {
		return 0, errors.New("no resources")
	}
	return total / n, nil
}
