package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/fhirserver/fhirserver/fhirserver/outcome"
	"github.com/fhirserver/fhirserver/resources"
)

// ndjsonBatch is how many NDJSON lines go into one transaction.
const ndjsonBatch = 500

func load(ctx context.Context, args []string, out io.Writer, log *slog.Logger) error {
	fset := flag.NewFlagSet("load", flag.ContinueOnError)
	var d dbFlags
	var v validationFlags
	d.register(fset)
	v.register(fset)
	if err := fset.Parse(args); err != nil {
		return usageError(err.Error())
	}
	validation, err := v.options()
	if err != nil {
		return err
	}
	if fset.NArg() == 0 {
		return usageError("load: name at least one file or directory")
	}
	files, err := expand(fset.Args())
	if err != nil {
		return err
	}
	db, err := openDatabase(ctx, d, log)
	if err != nil {
		return err
	}
	defer db.close()
	l := &loader{svc: resources.New(db.store, log), out: out}
	l.svc.SetValidation(validation)
	for _, f := range files {
		if err := l.file(ctx, f); err != nil {
			return fmt.Errorf("%s: %w", f, describe(err))
		}
	}
	fmt.Fprintf(out, "loaded %d files, %d entries\n", len(files), l.entries)
	return nil
}

// expand turns directories into their .json and .ndjson files in name
// order, so Synthea's 0-* provider bundles come before the patients.
func expand(paths []string) ([]string, error) {
	var files []string
	for _, p := range paths {
		info, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if !info.IsDir() {
			files = append(files, p)
			continue
		}
		var found []string
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() && (strings.HasSuffix(path, ".json") || strings.HasSuffix(path, ".ndjson")) {
				found = append(found, path)
			}
			return err
		})
		if err != nil {
			return nil, err
		}
		sort.Strings(found)
		files = append(files, found...)
	}
	return files, nil
}

type loader struct {
	svc     *resources.Service
	out     io.Writer
	entries int
}

var loadCaller = resources.Caller{ID: "fhirserver load", Authorize: resources.AllowAll}

func (l *loader) file(ctx context.Context, path string) error {
	if strings.HasSuffix(path, ".ndjson") {
		return l.ndjson(ctx, path)
	}
	body, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if !isTransaction(body) {
		body, err = wrap([]json.RawMessage{body})
		if err != nil {
			return err
		}
	}
	return l.bundle(ctx, body)
}

func (l *loader) bundle(ctx context.Context, body []byte) error {
	r, err := l.svc.Load(ctx, loadCaller, body, resources.Options{})
	if err != nil {
		return err
	}
	var resp struct {
		Entry []struct {
			Response struct {
				Status  string
				Outcome json.RawMessage
			}
		}
	}
	if err := json.Unmarshal(r.Body, &resp); err != nil {
		return err
	}
	for i, e := range resp.Entry {
		if !strings.HasPrefix(e.Response.Status, "2") {
			return fmt.Errorf("entry %d: %s %s", i, e.Response.Status, e.Response.Outcome)
		}
	}
	l.entries += len(resp.Entry)
	return nil
}

func (l *loader) ndjson(ctx context.Context, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	var batch []json.RawMessage
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		body, err := wrap(batch)
		batch = nil
		if err != nil {
			return err
		}
		return l.bundle(ctx, body)
	}
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		batch = append(batch, append(json.RawMessage(nil), line...))
		if len(batch) == ndjsonBatch {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	return flush()
}

func isTransaction(body []byte) bool {
	var b struct{ ResourceType, Type string }
	return json.Unmarshal(body, &b) == nil && b.ResourceType == "Bundle" && (b.Type == "transaction" || b.Type == "batch")
}

// wrap makes a transaction of resources: PUT where they carry an id, so
// their ids are kept, POST where they do not.
func wrap(resourcesJSON []json.RawMessage) ([]byte, error) {
	type request struct {
		Method string `json:"method"`
		URL    string `json:"url"`
	}
	type entry struct {
		Resource json.RawMessage `json:"resource"`
		Request  request         `json:"request"`
	}
	var entries []entry
	for _, r := range resourcesJSON {
		var head struct{ ResourceType, ID string }
		if err := json.Unmarshal(r, &head); err != nil {
			return nil, outcome.E(outcome.Invalid, "not a JSON resource: %v", err)
		}
		req := request{Method: "POST", URL: head.ResourceType}
		if head.ID != "" {
			req = request{Method: "PUT", URL: head.ResourceType + "/" + head.ID}
		}
		entries = append(entries, entry{Resource: r, Request: req})
	}
	return json.Marshal(map[string]any{"resourceType": "Bundle", "type": "transaction", "entry": entries})
}

// describe spells out an OperationOutcome error for the terminal.
func describe(err error) error {
	oe := outcome.From(err)
	if oe.Kind == outcome.Internal {
		return err
	}
	return fmt.Errorf("%d %s", oe.Kind.Status(), oe.OperationOutcome())
}
