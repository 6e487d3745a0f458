package main

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// keepRule keeps the first n entries of one resource type.
type keepRule struct {
	Type string `json:"type"`
	N    int    `json:"n"`
}

// defaultScaleKeep is what a trimmed patient keeps besides its Patient: on
// the synthea-blaze patients, the first 32 Observations bring the
// Encounters they were made in (3 to 15), about 39 resources a patient.
const defaultScaleKeep = "Encounter=4,Observation=32"

// parseKeep parses "Encounter=4,Observation=32".
func parseKeep(s string) ([]keepRule, error) {
	var out []keepRule
	for _, part := range strings.Split(s, ",") {
		typ, n, ok := strings.Cut(strings.TrimSpace(part), "=")
		k, err := strconv.Atoi(n)
		if !ok || err != nil || k < 0 || k > 100_000 || !localRef.MatchString(typ+"/x") {
			return nil, fmt.Errorf("--scale-per-patient: %q is not Type=N", part)
		}
		out = append(out, keepRule{typ, k})
	}
	return out, nil
}

// parseCounts parses ascending patient counts, "1000,64000".
func parseCounts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 10_000_000 || (len(out) > 0 && n <= out[len(out)-1]) {
			return nil, fmt.Errorf("--scale-patients: %q is not a count above the one before it (1..10000000)", f)
		}
		out = append(out, n)
	}
	return out, nil
}

// trimFixture makes a patient bundle smaller, the same way every time: it
// keeps every Patient, the first N entries of each kept type, and every
// entry that a kept entry refers to inside the bundle (by urn:uuid fullUrl
// or Type/id), so that no reference is left dangling: an Observation brings
// its Encounter. References outside the bundle (the providers' conditional
// references) stay as they are. Entries keep their order and their JSON.
func trimFixture(f *fixture, keep []keepRule) (fixture, error) {
	var top object
	if err := json.Unmarshal(f.data, &top); err != nil {
		return fixture{}, fmt.Errorf("%s: %w", f.path, err)
	}
	raw, _ := top.get("entry")
	var entries []json.RawMessage
	if err := json.Unmarshal(raw, &entries); err != nil {
		return fixture{}, fmt.Errorf("%s: %w", f.path, err)
	}
	if len(entries) != len(f.entries) {
		return fixture{}, fmt.Errorf("%s: %d entries, %d described", f.path, len(entries), len(f.entries))
	}
	quota := map[string]int{}
	for _, k := range keep {
		quota[k.Type] = k.N
	}
	// Who can be referred to inside the bundle, and by what.
	byRef := map[string]int{}
	for i, e := range f.entries {
		if e.fullURL != "" {
			byRef[e.fullURL] = i
		}
		if e.localKey != "" {
			byRef[e.localKey] = i
		}
	}
	refs := make([][]int, len(entries))
	kept := make([]bool, len(entries))
	var queue []int
	patients := 0
	for i, e := range entries {
		var x struct {
			Resource any `json:"resource"`
		}
		if err := json.Unmarshal(e, &x); err != nil {
			return fixture{}, fmt.Errorf("%s entry %d: %w", f.path, i, err)
		}
		for _, r := range referencesIn(x.Resource) {
			if j, ok := byRef[r]; ok {
				refs[i] = append(refs[i], j)
			}
		}
		typ := ""
		if m, ok := x.Resource.(map[string]any); ok {
			typ, _ = m["resourceType"].(string)
		}
		switch {
		case typ == "Patient":
			patients++
		case quota[typ] > 0:
			quota[typ]--
		default:
			continue
		}
		kept[i] = true
		queue = append(queue, i)
	}
	if patients != 1 {
		// Each copy must be one patient, so that counts of copies are counts of patients.
		return fixture{}, fmt.Errorf("%s: %d Patients, not one", f.path, patients)
	}
	for len(queue) > 0 {
		i := queue[0]
		queue = queue[1:]
		for _, j := range refs[i] {
			if !kept[j] {
				kept[j] = true
				queue = append(queue, j)
			}
		}
	}
	buf := []byte{'['}
	for i, e := range entries {
		if kept[i] {
			if len(buf) > 1 {
				buf = append(buf, ',')
			}
			buf = append(buf, e...)
		}
	}
	top.set("entry", append(buf, ']'))
	t, skip, err := parseFixture(f.path+" (trimmed)", top.appendTo(nil))
	if err == nil && skip != "" {
		err = fmt.Errorf("%s: trimmed bundle skipped: %s", f.path, skip)
	}
	t.provider = false
	return t, err
}

// referencesIn returns every "reference" string anywhere in a decoded value.
func referencesIn(v any) []string {
	var out []string
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, val := range x {
				if s, ok := val.(string); ok && k == "reference" {
					out = append(out, s)
				} else {
					walk(val)
				}
			}
		case []any:
			for _, val := range x {
				walk(val)
			}
		}
	}
	walk(v)
	return out
}

// patientTemplates trims every non-provider fixture; the templates are
// used in turn, so that any number of patients has the same mix.
func patientTemplates(fixtures []fixture, keep []keepRule) ([]fixture, error) {
	var out []fixture
	for i := range fixtures {
		if fixtures[i].provider {
			continue
		}
		t, err := trimFixture(&fixtures[i], keep)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no patient bundles to trim")
	}
	return out, nil
}

// patientBatch is one transaction Bundle of the patients from..to-1 (their
// templates taken in turn), each a copy with fresh ids.
func patientBatch(templates []fixture, from, to int, newID func() string) (ingestJob, error) {
	job := ingestJob{name: fmt.Sprintf("patients %d-%d", from, to-1)}
	buf := []byte(`{"resourceType":"Bundle","type":"transaction","entry":[`)
	for i := from; i < to; i++ {
		t := &templates[i%len(templates)]
		arr, err := t.rewriteEntries(newID)
		if err != nil {
			return job, fmt.Errorf("%s: %w", t.path, err)
		}
		inner := strings.TrimSpace(string(arr))
		inner = strings.TrimSpace(inner[1 : len(inner)-1]) // the array's brackets
		if inner == "" {
			continue
		}
		if job.entries > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, inner...)
		job.entries += len(t.entries)
	}
	job.body = append(buf, "]}"...)
	return job, nil
}
