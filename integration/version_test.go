package integration

import (
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"
)

// TestVersion: `claudebox version --json` names what the binary was built
// with, as go.mod pins it, and the text form heads --check's report.
func TestVersion(t *testing.T) {
	needSuite(t)
	in := invocation{as: testUser, dir: newProject(t, testUser)}
	r := in.run(t, "version", "--json")
	mustExit(t, r, 0)
	var v struct {
		Version, Commit, Go, Runc, RuntimeSpec, CNI, CNIPlugins, Libseccomp string
		BuildTags                                                           []string
		Seccomp                                                             bool
	}
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil {
		t.Fatalf("version --json: %v\n%s", err, r)
	}
	mod, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	for path, got := range map[string]string{
		"github.com/opencontainers/runc":         v.Runc,
		"github.com/containernetworking/cni":     v.CNI,
		"github.com/containernetworking/plugins": v.CNIPlugins,
	} {
		if got == "" || !strings.Contains(string(mod), "\t"+path+" "+got+"\n") {
			t.Errorf("version --json says %s %q; go.mod pins another", path, got)
		}
	}
	if !v.Seccomp || v.Libseccomp == "" || !slices.Contains(v.BuildTags, "seccomp") {
		t.Errorf("the built binary reports no seccomp: %+v", v)
	}
	if v.Version == "" || len(v.Commit) != 40 || v.RuntimeSpec == "" || !strings.HasPrefix(v.Go, "go") {
		t.Errorf("version --json: %+v", v)
	}
	text := in.run(t, "version")
	mustExit(t, text, 0)
	mustContain(t, text, "claudebox "+v.Version+", commit "+v.Commit, "runc "+v.Runc, "libseccomp "+v.Libseccomp)
}
