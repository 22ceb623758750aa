package preflight

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// Each PASS of the isolation probe can fail: on a missing mark, on the
// canary seen inside, and (secrets hidden) on a canary never planted.
func TestJudgeIsolation(t *testing.T) {
	const canary = "claudebox-canary-1"
	all := "secret-hidden host-readonly env-clean project-writable seccomp-filter"
	status := func(rs []Result) map[string]string {
		m := map[string]string{}
		for _, r := range rs {
			m[r.Name] = r.Status
		}
		return m
	}
	if s := status(judgeIsolation(all, canary, nil)); s["secrets hidden"] != Pass || s["seccomp"] != Pass || len(s) != 5 {
		t.Errorf("all marks, canary planted: %v", s)
	}
	if s := status(judgeIsolation(all, canary, errors.New("read-only"))); s["secrets hidden"] != Fail || s["host read-only"] != Pass {
		t.Errorf("a broken canary must fail secrets hidden: %v", s)
	}
	if s := status(judgeIsolation(all+" "+canary, canary, nil)); s["secrets hidden"] != Fail {
		t.Errorf("the canary seen inside: %v", s)
	}
	if s := status(judgeIsolation("host-readonly", canary, nil)); s["secrets hidden"] != Fail || s["environment clean"] != Fail {
		t.Errorf("missing marks: %v", s)
	}
}

// A canary that cannot be written (its directory is a file) is an error,
// never a silent success.
func TestPlantCanary(t *testing.T) {
	dir := t.TempDir()
	if err := plantCanary(filepath.Join(dir, ".ssh", "id_canary"), "c"); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "file"), nil, 0o600)
	if err := plantCanary(filepath.Join(dir, "file", "id_canary"), "c"); err == nil {
		t.Error("planted under a file")
	}
}
