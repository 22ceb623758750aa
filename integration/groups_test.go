package integration

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"strconv"
	"strings"
	"testing"
)

// TestSupplementaryGroups: a user's supplementary groups do not come into
// the sandbox (rootless runc keeps them: they show as nogroup but still
// grant access) where newgidmap and a subgid range let claudebox drop
// them; elsewhere the plan and --check say which are kept.
func TestSupplementaryGroups(t *testing.T) {
	needSuite(t)
	resetClaudeState(t)
	const group = "cb-planted"
	if _, err := user.LookupGroup(group); err != nil {
		if out, err := exec.Command("groupadd", group).CombinedOutput(); err != nil {
			t.Fatalf("groupadd: %v %s", err, out)
		}
	}
	t.Cleanup(func() { exec.Command("groupdel", group).Run() })
	g, err := user.LookupGroup(group)
	if err != nil {
		t.Fatal(err)
	}
	gid, _ := strconv.Atoi(g.Gid)
	// A file only the group may read, where the sandbox sees the host.
	secret := fmt.Sprintf("/etc/cb-group-secret-%d", os.Getpid())
	if err := os.WriteFile(secret, []byte("GROUP-SECRET\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(secret) })
	os.Chown(secret, 0, gid)

	proj := newProject(t, testUser)
	in := invocation{as: testUser, dir: proj, groups: []uint32{uint32(gid)}}
	probe := `grep "^Groups:" /proc/self/status; cat ` + secret + ` 2>&1; true`
	for _, tier := range []string{"none", "inet", "full"} {
		r := in.run(t, "run", "-q", "--network", tier, "--", "sh", "-c", probe)
		mustExit(t, r, 0)
		if line := lineWith(r.stdout, "Groups:"); strings.TrimSpace(strings.TrimPrefix(line, "Groups:")) != "" {
			t.Errorf("%s: the command has supplementary groups: %q", tier, line)
		}
		mustNotContain(t, r, "GROUP-SECRET")
	}
	r := in.run(t, "check")
	if line := lineOf(r.stdout, "groups"); !strings.HasPrefix(line, "PASS") || !strings.Contains(line, "dropped") {
		t.Errorf("--check: %q\n%s", line, r)
	}

	// Without a subgid range they cannot be dropped: said, not hidden.
	subgid, err := os.ReadFile("/etc/subgid")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.WriteFile("/etc/subgid", subgid, 0o644) })
	var kept []string
	for _, l := range strings.Split(string(subgid), "\n") {
		if !strings.HasPrefix(l, testUser.name+":") {
			kept = append(kept, l)
		}
	}
	if err := os.WriteFile("/etc/subgid", []byte(strings.Join(kept, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	r = in.run(t, "run", "-y", "--", "sh", "-c", probe)
	mustExit(t, r, 0)
	mustContain(t, r, "GROUP-SECRET") // the honest state of things
	if line := lineWith(r.stderr, " groups "); !strings.HasPrefix(line, "!") || !strings.Contains(line, group) {
		t.Errorf("the plan does not say the group is kept: %q\n%s", line, r.stderr)
	}
	r = in.run(t, "check")
	if line := lineOf(r.stdout, "groups"); !strings.HasPrefix(line, "WARN") || !strings.Contains(line, group) {
		t.Errorf("--check without a subgid range: %q\n%s", line, r)
	}
	mustContain(t, r, "/etc/subgid")
}
