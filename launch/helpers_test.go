package launch

import (
	"os"
	"path/filepath"
	"testing"
)

// A helper is never found through $PATH, whose entries a sandbox may
// write; beside the claudebox binary it is.
func TestHelperPathIgnoresPATH(t *testing.T) {
	planted := t.TempDir()
	for _, name := range []string{"slirp4netns", "claudebox-test-helper"} {
		if err := os.WriteFile(filepath.Join(planted, name), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", planted+":"+os.Getenv("PATH"))
	if p, err := HelperPath("slirp4netns", "/nonexistent/claudebox"); filepath.Dir(p) == planted {
		t.Errorf("found the planted helper through PATH: %s (%v)", p, err)
	}
	if p, err := HelperPath("claudebox-test-helper", "/nonexistent/claudebox"); err == nil {
		t.Errorf("found %s through PATH", p)
	}
	if p, err := HelperPath("claudebox-test-helper", filepath.Join(planted, "claudebox")); err != nil || p != filepath.Join(planted, "claudebox-test-helper") {
		t.Errorf("beside the binary: %q %v", p, err)
	}
}
