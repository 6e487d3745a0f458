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

	"github.com/fhirserver/fhirserver/outcome"
	"github.com/fhirserver/fhirserver/resources"
	"github.com/fhirserver/fhirserver/resources/access"
)

// ndjsonBatch is how many NDJSON lines go into one transaction.
const ndjsonBatch = 500

func load(ctx context.Context, args []string, out io.Writer, log *slog.Logger) error {
	fset := flag.NewFlagSet("load", flag.ContinueOnError)
	var d dbFlags
	var v validationFlags
	d.register(fset)
	v.register(fset, "warn")
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
	l := newLoader(resources.New(db.store, log))
	l.svc.SetValidation(validation)
	for _, f := range files {
		if err := l.file(ctx, f); err != nil {
			if outcome.KindOf(err) == outcome.Internal {
				return fmt.Errorf("%s: %w", f, err)
			}
			l.refuse(f, "", err)
		}
	}
	return l.summary(out, len(files))
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

// loader loads files and keeps what its summary reports.
type loader struct {
	svc      *resources.Service
	entries  int
	stored   map[string]int // per resource type
	warnings map[warning]int
	refused  []string
}

// warning is one kind of complaint a stored resource drew: the profile
// (canonical|version) and what was wrong.
type warning struct{ profile, message string }

func newLoader(svc *resources.Service) *loader {
	return &loader{svc: svc, stored: map[string]int{}, warnings: map[warning]int{}}
}

var loadCaller = access.System("fhirserver load")

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
	return l.bundle(ctx, path, body)
}

// bundle loads one transaction or batch; a batch's entries stand or fall
// alone, a transaction's together.
func (l *loader) bundle(ctx context.Context, path string, body []byte) error {
	r, err := l.svc.Load(ctx, loadCaller, body, resources.Options{Return: resources.ReturnOutcome})
	if err != nil {
		return err
	}
	var resp struct {
		Entry []struct {
			Response struct {
				Status   string
				Location string
				Outcome  json.RawMessage
			}
		}
	}
	if err := json.Unmarshal(r.Body, &resp); err != nil {
		return err
	}
	for i, e := range resp.Entry {
		oo := readOutcome(e.Response.Outcome)
		if !strings.HasPrefix(e.Response.Status, "2") {
			l.refused = append(l.refused, fmt.Sprintf("%s: entry %d: %s: %s", path, i, e.Response.Status, oo.summary()))
			continue
		}
		l.entries++
		typ, _, _ := strings.Cut(e.Response.Location, "/")
		l.stored[typ]++
		for _, is := range oo.Issue {
			if is.Severity == "warning" {
				l.warnings[warningOf(is.Diagnostics)]++
			}
		}
	}
	return nil
}

// refuse records a file (or entry) refused whole.
func (l *loader) refuse(path, where string, err error) {
	oo := readOutcome(outcome.From(err).OperationOutcome())
	l.refused = append(l.refused, fmt.Sprintf("%s%s: %d: %s", path, where, outcome.From(err).Kind.Status(), oo.summary()))
}

// warningOf splits a profile's complaint ("canonical|version: what") from
// the rest.
func warningOf(diagnostics string) warning {
	if profile, message, ok := strings.Cut(diagnostics, ": "); ok && strings.HasPrefix(profile, "http") && !strings.Contains(profile, " ") {
		return warning{profile, message}
	}
	return warning{"", diagnostics}
}

type operationOutcome struct {
	Issue []struct {
		Severity, Code, Diagnostics string
		Expression                  []string
	}
}

func readOutcome(raw []byte) operationOutcome {
	var oo operationOutcome
	_ = json.Unmarshal(raw, &oo)
	return oo
}

// summary is an outcome's errors on one line, at most three of them.
func (oo operationOutcome) summary() string {
	var parts []string
	for _, is := range oo.Issue {
		if is.Severity != "error" && is.Severity != "fatal" {
			continue
		}
		if len(parts) == 3 {
			parts = append(parts, "...")
			break
		}
		at := ""
		if len(is.Expression) > 0 {
			at = " (" + is.Expression[0] + ")"
		}
		parts = append(parts, is.Diagnostics+at)
	}
	return strings.Join(parts, "; ")
}

// summary prints what the load stored, the profile warnings it stored
// anyway and what it refused; it fails when anything was refused.
func (l *loader) summary(out io.Writer, files int) error {
	fmt.Fprintf(out, "loaded %d files, %d entries\n", files, l.entries)
	fmt.Fprintln(out, "stored, by type:")
	for _, typ := range sortedKeys(l.stored) {
		fmt.Fprintf(out, "  %-28s %d\n", typ, l.stored[typ])
	}
	if len(l.warnings) > 0 {
		fmt.Fprintln(out, "stored with warnings, by profile and message (count):")
		keys := make([]warning, 0, len(l.warnings))
		for k := range l.warnings {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool {
			return keys[i].profile < keys[j].profile || keys[i].profile == keys[j].profile && keys[i].message < keys[j].message
		})
		for _, k := range keys {
			fmt.Fprintf(out, "  %s\n    %s (%d)\n", or(k.profile, "(base R4)"), k.message, l.warnings[k])
		}
	}
	if len(l.refused) == 0 {
		return nil
	}
	fmt.Fprintln(out, "refused:")
	for _, r := range l.refused {
		fmt.Fprintf(out, "  %s\n", r)
	}
	return fmt.Errorf("load: %d refused (listed above)", len(l.refused))
}

func sortedKeys(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// ndjson loads NDJSON in transactions of ndjsonBatch lines; a refused one
// is reported by its lines and the rest of the file still loads.
func (l *loader) ndjson(ctx context.Context, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	var batch []json.RawMessage
	first, n := 0, 0
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		body, err := wrap(batch)
		batch = nil
		if err == nil {
			err = l.bundle(ctx, path, body)
		}
		if err != nil && outcome.KindOf(err) != outcome.Internal {
			l.refuse(path, fmt.Sprintf(": lines %d-%d", first, n), err)
			return nil
		}
		return err
	}
	for sc.Scan() {
		n++
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		if len(batch) == 0 {
			first = n
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
