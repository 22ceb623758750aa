package bundle

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

// The spec this code is built with, and the release before OCIVersion.
var (
	specsVersion       = specs.Version
	previousOCIVersion = "1.0.1"
)

// schemaDir downloads runtime-spec at version v through the module proxy
// and returns its schema directory.
func schemaDir(t *testing.T, v string) string {
	t.Helper()
	out, err := exec.Command("go", "mod", "download", "-json", "github.com/opencontainers/runtime-spec@v"+v).Output()
	if err != nil {
		t.Fatalf("go mod download runtime-spec@v%s: %v", v, err)
	}
	var m struct{ Dir string }
	if err := json.Unmarshal(out, &m); err != nil || m.Dir == "" {
		t.Fatalf("go mod download runtime-spec@v%s: %s", v, out)
	}
	return filepath.Join(m.Dir, "schema")
}

// strictSchema compiles runtime-spec v's config schema with every object
// closed (additionalProperties false): the published schemas leave them
// open, so a field a version does not know would pass unnoticed.
func strictSchema(t *testing.T, v string) *jsonschema.Schema {
	t.Helper()
	dir := schemaDir(t, v)
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft4) // as the files that say so; some say nothing
	names, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	for _, name := range names {
		f, err := os.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		doc, err := jsonschema.UnmarshalJSON(f)
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		closeObjects(doc)
		if err := c.AddResource("file://"+name, doc); err != nil {
			t.Fatal(err)
		}
	}
	s, err := c.Compile("file://" + filepath.Join(dir, "config-schema.json"))
	if err != nil {
		t.Fatalf("runtime-spec %s schema: %v", v, err)
	}
	return s
}

// closeObjects sets additionalProperties false on every schema object that lists
// properties and says nothing of others; and writes the schemas' old-style
// references ("defs.json#definitions/x") as JSON pointers ("#/definitions/x").
// It drops the web-address ids of older releases, which would send
// references to the web.
func closeObjects(doc any) {
	switch d := doc.(type) {
	case map[string]any:
		if id, ok := d["id"].(string); ok && strings.HasPrefix(id, "https://") {
			delete(d, "id") // older releases name web addresses; the file's own is the one
		}
		if ref, ok := d["$ref"].(string); ok {
			if file, frag, found := strings.Cut(ref, "#"); found && !strings.HasPrefix(frag, "/") {
				d["$ref"] = file + "#/" + frag
			}
		}
		if _, ok := d["properties"]; ok {
			if _, set := d["additionalProperties"]; !set {
				d["additionalProperties"] = false
			}
		}
		for _, v := range d {
			closeObjects(v)
		}
	case []any:
		for _, v := range d {
			closeObjects(v)
		}
	}
}

// bundleConfigs are the config.json of every golden case, and of an exported
// inet bundle (its createRuntime hook is what needs the newest spec).
func bundleConfigs(t *testing.T) map[string]any {
	t.Helper()
	out := map[string]any{}
	names, _ := filepath.Glob("testdata/*.json")
	for _, name := range names {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		doc, err := jsonschema.UnmarshalJSON(strings.NewReader(string(b)))
		if err != nil {
			t.Fatal(err)
		}
		out[name] = doc
	}
	launcher := filepath.Join(t.TempDir(), "claudebox")
	os.WriteFile(launcher, []byte("binary"), 0o755)
	dir := filepath.Join(t.TempDir(), "box")
	if err := Export(ExportOptions{Dir: dir, Spec: cases["inet"], Launcher: launcher, Seccomp: []byte("prog0000")}); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(dir, ConfigName))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(func() string { b, _ := json.Marshal(doc); return string(b) }(), "createRuntime") {
		t.Fatal("the exported inet bundle has no createRuntime hook; this test assumed it")
	}
	out["exported inet bundle"] = doc
	return out
}

// TestOCIVersion: bundles say the lowest runtime-spec version that covers
// what they use, so that older runtimes take them (Debian 12's crun 1.8.1
// refuses "1.3.0"). Every config validates against OCIVersion's schema
// with every object closed, and one fails against the version before it.
func TestOCIVersion(t *testing.T) {
	cfgs := bundleConfigs(t)
	for name, doc := range cfgs {
		if v := doc.(map[string]any)["ociVersion"]; v != OCIVersion {
			t.Errorf("%s: ociVersion %v, want %s", name, v, OCIVersion)
		}
	}
	validate := func(v string) (failed []string) {
		s := strictSchema(t, v)
		for name, doc := range cfgs {
			if err := s.Validate(doc); err != nil {
				failed = append(failed, name+": "+err.Error())
			}
		}
		return failed
	}
	// Closing the objects is sound: the spec this code is built with takes all.
	if failed := validate(specsVersion); len(failed) > 0 {
		t.Fatalf("invalid against runtime-spec %s itself:\n%s", specsVersion, strings.Join(failed, "\n"))
	}
	if failed := validate(OCIVersion); len(failed) > 0 {
		t.Errorf("bundles use what runtime-spec %s lacks:\n%s", OCIVersion, strings.Join(failed, "\n"))
	}
	if f := validate(previousOCIVersion); len(f) == 0 {
		t.Errorf("every bundle is valid runtime-spec %s too: lower OCIVersion", previousOCIVersion)
	} else {
		t.Logf("against %s: %s", previousOCIVersion, strings.Join(f, "\n"))
	}
}
