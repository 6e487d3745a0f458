package fhirpath

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// invariant is one constraint of a StructureDefinition.
type invariant struct {
	sd, path, key, expression string
}

var (
	loadOnce   sync.Once
	invariants []invariant
	loadErr    error
)

// dataDir is the validator's definitions, beside this package.
var dataDir = filepath.Join("..", "..", "profiles", "data")

// loadInvariants reads every constraint of every StructureDefinition the
// validator has: R4's resources, data types and core extensions and the
// US Core 6.1.0 profiles, from profiles/data/definitions.zip (or, in the
// earlier layout, the published bundles and the US Core package).
func loadInvariants(t testing.TB) []invariant {
	t.Helper()
	loadOnce.Do(func() {
		var sds [][]byte
		sds, loadErr = structureDefinitions()
		for _, b := range sds {
			var sd struct {
				ID, Version string
				Snapshot    struct {
					Element []struct {
						Path       string
						Constraint []struct{ Key, Expression string }
					}
				}
			}
			if loadErr = json.Unmarshal(b, &sd); loadErr != nil {
				return
			}
			for _, el := range sd.Snapshot.Element {
				for _, c := range el.Constraint {
					if c.Expression != "" {
						invariants = append(invariants, invariant{sd.ID + "|" + sd.Version, el.Path, c.Key, c.Expression})
					}
				}
			}
		}
	})
	require.NoError(t, loadErr)
	return invariants
}

func structureDefinitions() ([][]byte, error) {
	if z, err := zip.OpenReader(filepath.Join(dataDir, "definitions.zip")); err == nil {
		defer z.Close()
		var out [][]byte
		for _, f := range z.File {
			if !strings.HasPrefix(f.Name, "StructureDefinition/") || !strings.HasSuffix(f.Name, ".json") {
				continue
			}
			r, err := f.Open()
			if err != nil {
				return nil, err
			}
			b, err := io.ReadAll(r)
			r.Close()
			if err != nil {
				return nil, err
			}
			out = append(out, b)
		}
		return out, nil
	}
	var out [][]byte
	for _, name := range []string{"profiles-resources", "profiles-types", "extension-definitions"} {
		b, err := gunzip(filepath.Join(dataDir, "r4", name+".json.gz"))
		if err != nil {
			return nil, err
		}
		var bundle struct {
			Entry []struct{ Resource json.RawMessage }
		}
		if err := json.Unmarshal(b, &bundle); err != nil {
			return nil, err
		}
		for _, e := range bundle.Entry {
			if bytes.Contains(e.Resource[:min(len(e.Resource), 200)], []byte(`"StructureDefinition"`)) {
				out = append(out, e.Resource)
			}
		}
	}
	b, err := gunzip(filepath.Join(dataDir, "us-core", "us_core_610.tgz"))
	if err != nil {
		return nil, err
	}
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		if strings.HasPrefix(h.Name, "package/StructureDefinition-") && strings.HasSuffix(h.Name, ".json") {
			b, err := io.ReadAll(tr)
			if err != nil {
				return nil, err
			}
			out = append(out, b)
		}
	}
}

func gunzip(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	z, err := gzip.NewReader(f)
	if err != nil {
		return nil, err
	}
	return io.ReadAll(z)
}

// notCompiled are the invariants this package cannot compile, with the
// reason; the validator reports them as not evaluated. It is empty: every
// invariant of R4 and US Core 6.1.0 compiles.
var notCompiled = []struct{ key, expression, reason string }{}

func TestEveryInvariantCompiles(t *testing.T) {
	all := loadInvariants(t)
	require.Greater(t, len(all), 10000, "every element of every definition has ele-1")
	allowed := map[string]bool{}
	for _, n := range notCompiled {
		allowed[n.key+"\x00"+n.expression] = true
	}
	distinct := map[string]bool{}
	for _, inv := range all {
		if distinct[inv.key+"\x00"+inv.expression] {
			continue
		}
		distinct[inv.key+"\x00"+inv.expression] = true
		_, err := Compile(inv.expression)
		if allowed[inv.key+"\x00"+inv.expression] {
			assert.Error(t, err, "%s is listed as not compiling but does: take it off the list", inv.key)
			continue
		}
		assert.NoError(t, err, "%s (%s on %s)", inv.key, inv.sd, inv.path)
	}
	t.Logf("%d invariants, %d distinct, %d not compiled", len(all), len(distinct), len(notCompiled))
}

// expression finds the text of an invariant by key (and, for keys used
// more than once, the path of its element).
// expression is the invariant key on path; of a US Core key that its
// versions define differently, 6.1.0's, which the cases below were
// written for.
func expression(t *testing.T, key, path string) string {
	t.Helper()
	found := ""
	for _, inv := range loadInvariants(t) {
		if inv.key == key && (path == "" || inv.path == path) {
			if found == "" || strings.HasSuffix(inv.sd, "|6.1.0") {
				found = inv.expression
			}
		}
	}
	if found == "" {
		t.Fatalf("no invariant %s on %s", key, path)
	}
	return found
}

// TestInvariants runs real invariants, as published, on a passing and a
// failing instance each. focus is the element the constraint sits on;
// resource, when set, is %resource (and %rootResource).
func TestInvariants(t *testing.T) {
	type instance struct {
		focus, resource string
		want            string // true, false or empty
	}
	tests := []struct {
		key, path string
		cases     []instance
	}{
		{"ele-1", "Resource.meta", []instance{
			{focus: `{"versionId":"1"}`, want: "true"},
			{focus: `{"id":"x"}`, want: "false"},
			{focus: `{}`, want: "false"},
		}},
		{"ext-1", "Extension", []instance{
			{focus: `{"url":"http://e","valueString":"x"}`, want: "true"},
			{focus: `{"url":"http://e","extension":[{"url":"a","valueCode":"b"}]}`, want: "true"},
			{focus: `{"url":"http://e","extension":[{"url":"a","valueCode":"b"}],"valueString":"x"}`, want: "false"},
			{focus: `{"url":"http://e"}`, want: "false"},
		}},
		{"pat-1", "Patient.contact", []instance{
			{focus: `{"name":{"family":"F"}}`, want: "true"},
			{focus: `{"organization":{"reference":"Organization/1"}}`, want: "true"},
			{focus: `{"gender":"male"}`, want: "false"},
		}},
		{"obs-6", "Observation", []instance{
			{focus: `{"resourceType":"Observation","valueQuantity":{"value":1}}`, want: "true"},
			{focus: `{"resourceType":"Observation","dataAbsentReason":{"text":"x"}}`, want: "true"},
			{focus: `{"resourceType":"Observation","valueString":"x","dataAbsentReason":{"text":"x"}}`, want: "false"},
		}},
		{"obs-7", "Observation", []instance{
			{focus: `{"resourceType":"Observation","code":{"coding":[{"system":"s","code":"a"}]},"valueString":"x",
				"component":[{"code":{"coding":[{"system":"s","code":"b"}]}}]}`, want: "true"},
			{focus: `{"resourceType":"Observation","code":{"coding":[{"system":"s","code":"a"}]},"valueString":"x",
				"component":[{"code":{"coding":[{"system":"s","code":"a"}]}}]}`, want: "false"},
		}},
		{"per-1", "Period", []instance{
			{focus: `{"start":"2020-01-01","end":"2020-01-02"}`, want: "true"},
			{focus: `{"start":"2020-01-01T10:00:00+01:00","end":"2020-01-01T09:30:00Z"}`, want: "true"},
			{focus: `{"start":"2020-01-01"}`, want: "true"},
			{focus: `{"start":"2020-01-01","_end":{"extension":[{"url":"http://e","valueCode":"x"}]}}`, want: "true"},
			{focus: `{"start":"2020-01-02","end":"2020-01-01"}`, want: "false"},
			{focus: `{"start":"2020-01-01T10:00:00Z","end":"2020-01-01T10:30:00+01:00"}`, want: "false"},
			{focus: `{"start":"2020-01-01","end":"2020-01-01T10:00:00Z"}`, want: "empty"}, // precision differs
		}},
		{"qty-3", "Age", []instance{
			{focus: `{"value":1,"unit":"a","system":"http://unitsofmeasure.org","code":"a"}`, want: "true"},
			{focus: `{"value":1,"unit":"a"}`, want: "true"},
			{focus: `{"value":1,"code":"a"}`, want: "false"},
		}},
		{"ref-1", "Reference", []instance{
			{focus: `{"reference":"#p1"}`, resource: `{"resourceType":"Observation","contained":[{"resourceType":"Patient","id":"p1"}]}`, want: "true"},
			{focus: `{"reference":"Patient/1"}`, resource: `{"resourceType":"Observation"}`, want: "true"},
			{focus: `{"reference":"#p2"}`, resource: `{"resourceType":"Observation","contained":[{"resourceType":"Patient","id":"p1"}]}`, want: "false"},
			{focus: `{"identifier":{"value":"x"}}`, resource: `{"resourceType":"Observation"}`, want: "empty"},
		}},
		{"dom-2", "Patient", []instance{
			{focus: `{"resourceType":"Patient","contained":[{"resourceType":"Organization","id":"o"}]}`, want: "true"},
			{focus: `{"resourceType":"Patient","contained":[{"resourceType":"Organization","id":"o","contained":[{"resourceType":"Patient"}]}]}`, want: "false"},
		}},
		{"dom-3", "Patient", []instance{
			{focus: `{"resourceType":"Patient","managingOrganization":{"reference":"#o"},"contained":[{"resourceType":"Organization","id":"o"}]}`, want: "true"},
			{focus: `{"resourceType":"Patient","contained":[{"resourceType":"Organization","id":"o","partOf":{"reference":"#"}}]}`, want: "true"},
			{focus: `{"resourceType":"Patient","contained":[{"resourceType":"Organization","id":"o"}]}`, want: "false"},
		}},
		{"dom-3", "Questionnaire", []instance{
			{focus: `{"resourceType":"Questionnaire","item":[{"linkId":"1","type":"choice","answerValueSet":"#vs"}],"contained":[{"resourceType":"ValueSet","id":"vs"}]}`, want: "true"},
		}},
		{"dom-4", "Patient", []instance{
			{focus: `{"resourceType":"Patient","contained":[{"resourceType":"Organization","id":"o","meta":{"tag":[{"code":"x"}]}}]}`, want: "true"},
			{focus: `{"resourceType":"Patient","contained":[{"resourceType":"Organization","id":"o","meta":{"versionId":"2"}}]}`, want: "false"},
		}},
		{"dom-5", "Patient", []instance{
			{focus: `{"resourceType":"Patient"}`, want: "true"},
			{focus: `{"resourceType":"Patient","contained":[{"resourceType":"Organization","id":"o","meta":{"security":[{"code":"R"}]}}]}`, want: "false"},
		}},
		{"dom-6", "Patient", []instance{
			{focus: `{"resourceType":"Patient","text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">x</div>"}}`, want: "true"},
			{focus: `{"resourceType":"Patient"}`, want: "false"},
		}},
		{"txt-1", "Narrative.div", []instance{
			{focus: `"<div xmlns=\"http://www.w3.org/1999/xhtml\">x</div>"`, want: "true"},
			{focus: `"<p>x</p>"`, want: "false"},
		}},
		{"txt-2", "Narrative.div", []instance{
			{focus: `"<div xmlns=\"http://www.w3.org/1999/xhtml\">x</div>"`, want: "true"},
			{focus: `"<div xmlns=\"http://www.w3.org/1999/xhtml\">  </div>"`, want: "false"},
		}},
		{"us-core-6", "Patient.name", []instance{
			{focus: `{"family":"F"}`, want: "true"},
			{focus: `{"extension":[{"url":"http://hl7.org/fhir/StructureDefinition/data-absent-reason","valueCode":"unknown"}]}`, want: "true"},
			{focus: `{"text":"x"}`, want: "false"},
			{focus: `{"family":"F","extension":[{"url":"http://hl7.org/fhir/StructureDefinition/data-absent-reason","valueCode":"unknown"}]}`, want: "false"},
		}},
		{"us-core-8", "DiagnosticReport", []instance{
			{focus: `{"resourceType":"DiagnosticReport","status":"final","effectiveDateTime":"2020-01-01"}`, want: "true"},
			{focus: `{"resourceType":"DiagnosticReport","status":"registered"}`, want: "true"},
			{focus: `{"resourceType":"DiagnosticReport","status":"final"}`, want: "false"},
		}},
		{"us-core-1", "Observation.effective[x]", []instance{
			{focus: `"2020-01-01"`, want: "true"},
			{focus: `"2020"`, want: "false"},
			{focus: `{"start":"2020"}`, want: "true"},
		}},
		{"us-core-17", "Practitioner.identifier", []instance{
			{focus: `{"system":"http://hl7.org/fhir/sid/us-npi","value":"1234567893"}`, want: "true"},
			{focus: `{"system":"http://hl7.org/fhir/sid/us-npi","value":"1234567890"}`, want: "false"},
		}},
		{"us-core-3", "Observation", []instance{
			{focus: `{"resourceType":"Observation","valueQuantity":{"value":1,"system":"http://unitsofmeasure.org","code":"mg"}}`, want: "true"},
			{focus: `{"resourceType":"Observation","valueQuantity":{"value":1,"system":"http://x","code":"mg"}}`, want: "false"},
		}},
		{"age-1", "Age", []instance{
			{focus: `{"value":3,"system":"http://unitsofmeasure.org","code":"a"}`, want: "true"},
			{focus: `{"value":-3,"system":"http://unitsofmeasure.org","code":"a"}`, want: "false"},
		}},
		{"rng-2", "Range", []instance{
			{focus: `{"low":{"value":1,"code":"mg"},"high":{"value":2,"code":"mg"}}`, want: "true"},
			{focus: `{"low":{"value":3,"code":"mg"},"high":{"value":2,"code":"mg"}}`, want: "false"},
		}},
		{"eld-2", "ElementDefinition", []instance{
			{focus: `{"min":0,"max":"1"}`, want: "true"},
			{focus: `{"min":2,"max":"1"}`, want: "false"},
		}},
		{"eld-19", "ElementDefinition", []instance{
			{focus: `{"path":"Patient.name"}`, want: "true"},
		}},
		{"ras-2", "RiskAssessment.prediction", []instance{
			{focus: `{"probabilityDecimal":50}`, want: "true"},
			{focus: `{"probabilityDecimal":150}`, want: "false"},
		}},
		{"que-7", "Questionnaire.item.enableWhen", []instance{
			{focus: `{"question":"1","operator":"exists","answerBoolean":true}`, want: "true"},
			{focus: `{"question":"1","operator":"exists","answerString":"x"}`, want: "false"},
		}},
		{"bdl-7", "Bundle", []instance{
			{focus: `{"resourceType":"Bundle","type":"collection","entry":[{"fullUrl":"urn:a"},{"fullUrl":"urn:b"}]}`, want: "true"},
			{focus: `{"resourceType":"Bundle","type":"collection","entry":[{"fullUrl":"urn:a"},{"fullUrl":"urn:a"}]}`, want: "false"},
		}},
		{"sdcqr-2", "QuestionnaireResponse", []instance{
			{focus: `{"resourceType":"QuestionnaireResponse","item":[{"linkId":"a","answer":[{"valueString":"x"}]},{"linkId":"b","answer":[{"valueString":"x"}]}]}`, want: "true"},
			{focus: `{"resourceType":"QuestionnaireResponse","item":[{"linkId":"a","answer":[{"valueString":"x"}]},{"linkId":"a","answer":[{"valueString":"y"}]}]}`, want: "false"},
		}},
		{"tim-9", "Timing.repeat", []instance{
			{focus: `{"offset":30,"when":["ACM"]}`, want: "true"},
			{focus: `{"offset":30,"when":["C"]}`, want: "false"},
		}},
		{"ctm-1", "CareTeam.participant", []instance{
			{focus: `{"member":{"reference":"Practitioner/1"},"onBehalfOf":{"reference":"Organization/1"}}`, want: "true"},
			{focus: `{"member":{"reference":"Patient/1"},"onBehalfOf":{"reference":"Organization/1"}}`, want: "false"},
		}},
	}
	for _, tt := range tests {
		if tt.cases == nil {
			continue
		}
		src := expression(t, tt.key, tt.path)
		x, err := Compile(src)
		require.NoError(t, err, tt.key)
		for _, c := range tt.cases {
			focus := decodeAny(t, c.focus)
			var env Env
			if c.resource != "" {
				env.Resource = decode(t, c.resource)
			}
			got, err := x.EvaluateOn(focus, env)
			require.NoError(t, err, "%s on %s", tt.key, c.focus)
			result, empty := Truthy(got)
			assert.Equal(t, c.want, verdict(result, empty), "%s: %s\non %s", tt.key, src, c.focus)
			r2, e2, err := x.Check(focus, env)
			require.NoError(t, err)
			assert.Equal(t, c.want, verdict(r2, e2), "Check %s on %s", tt.key, c.focus)
		}
	}
}

func verdict(result, empty bool) string {
	switch {
	case empty:
		return "empty"
	case result:
		return "true"
	}
	return "false"
}

func decodeAny(t testing.TB, s string) any {
	t.Helper()
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	var v any
	require.NoError(t, d.Decode(&v))
	return v
}
