package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

const fhirJSON = "application/fhir+json"

// newHTTPClient returns a keep-alive client that can hold conns connections
// open to one host: without enough idle slots, a 64-way read test would
// measure TCP handshakes instead of the server.
func newHTTPClient(timeout time.Duration, conns int) *http.Client {
	tr := &http.Transport{
		Proxy:                 nil, // never leave for a proxy: only the base URL is contacted
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          2 * conns,
		MaxIdleConnsPerHost:   conns,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		ForceAttemptHTTP2:     true,
	}
	return &http.Client{
		Transport: tr,
		Timeout:   timeout,
		// A redirect could lead to another host; report it as a failure instead.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// fhirClient sends authorised FHIR requests to one base URL.
type fhirClient struct {
	base   string
	http   *http.Client
	tokens *tokenSource
}

// do sends one request and returns the status and, when keep is set or the
// status is not 200, the body (bounded). Otherwise the body is drained
// so that the connection is reused and the timing covers the whole response.
func (c *fhirClient) do(ctx context.Context, method, path string, body []byte, keep bool) (int, []byte, error) {
	tok, err := c.tokens.Token(ctx)
	if err != nil {
		return 0, nil, err
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", fhirJSON)
	}
	req.Header.Set("Accept", fhirJSON)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	if keep || resp.StatusCode != http.StatusOK {
		b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<30))
		return resp.StatusCode, b, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil, err
}

// operationOutcome is the part of an OperationOutcome worth printing.
type operationOutcome struct {
	ResourceType string `json:"resourceType"`
	Issue        []struct {
		Severity    string `json:"severity"`
		Code        string `json:"code"`
		Diagnostics string `json:"diagnostics"`
		Details     struct {
			Text string `json:"text"`
		} `json:"details"`
	} `json:"issue"`
}

// diagnostics summarises an error body: the OperationOutcome's issues if it
// is one, else the start of the body.
func diagnostics(body []byte) string {
	var oo operationOutcome
	if json.Unmarshal(body, &oo) == nil && oo.ResourceType == "OperationOutcome" {
		return outcomeText(oo)
	}
	s := strings.TrimSpace(string(body))
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}

func outcomeText(oo operationOutcome) string {
	var parts []string
	for _, is := range oo.Issue {
		msg := is.Diagnostics
		if msg == "" {
			msg = is.Details.Text
		}
		parts = append(parts, fmt.Sprintf("%s %s: %s", is.Severity, is.Code, msg))
	}
	return strings.Join(parts, "; ")
}
