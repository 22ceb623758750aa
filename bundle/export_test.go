package bundle

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestExport(t *testing.T) {
	launcher := filepath.Join(t.TempDir(), "claudebox")
	if err := os.WriteFile(launcher, []byte("binary"), 0o755); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "box")
	s := cases["user"]
	if err := Export(ExportOptions{Dir: dir, Spec: s, Launcher: launcher, Seccomp: []byte("prog0000")}); err != nil {
		t.Fatal(err)
	}
	var cfg specs.Spec
	b, err := os.ReadFile(filepath.Join(dir, ConfigName))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Root.Path != RootfsName {
		t.Errorf("rootfs %q is not relative to the bundle", cfg.Root.Path)
	}
	last := cfg.Mounts[len(cfg.Mounts)-1]
	if last.Destination != LauncherPath || last.Source != LauncherName {
		t.Errorf("launcher mount %+v is not relative to the bundle", last)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, LauncherName)); string(got) != "binary" {
		t.Errorf("launcher copy %q", got)
	}
	if link, _ := os.Readlink(filepath.Join(dir, RootfsName, "bin")); link != "usr/bin" {
		t.Errorf("rootfs bin -> %q", link)
	}

	if err := Export(ExportOptions{Dir: dir, Spec: s, Launcher: launcher, Seccomp: []byte("prog0000")}); !errors.Is(err, ErrNotEmpty) {
		t.Errorf("a second export without force: %v", err)
	}
	keep := filepath.Join(dir, "notes.txt")
	os.WriteFile(keep, []byte("mine"), 0o644)
	if err := Export(ExportOptions{Dir: dir, Spec: s, Launcher: launcher, Seccomp: []byte("prog0000"), Force: true}); err != nil {
		t.Fatalf("--force: %v", err)
	}
	if _, err := os.Stat(keep); err != nil {
		t.Errorf("--force removed a file that is not the bundle's: %v", err)
	}
}

func TestExportFailureLeavesNothing(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "box")
	if err := Export(ExportOptions{Dir: dir, Spec: cases["user"], Launcher: "/nonexistent/claudebox"}); err == nil {
		t.Fatal("export with a missing launcher succeeded")
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a failed export left %s behind", dir)
	}
}
