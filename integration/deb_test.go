package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestDebianPackage: the package make deb builds installs with dpkg -i;
// the installed claudebox launches, passes --check (finding its plugins
// in /usr/lib/claudebox/cni) and prints its bash completion, as the test
// user; dpkg -r leaves none of its files.
func TestDebianPackage(t *testing.T) {
	needSuite(t)
	debs, _ := filepath.Glob("../bin/claudebox_*.deb")
	if len(debs) != 1 {
		t.Fatalf("want the one package make deb builds in bin/, found %v (run make deb)", debs)
	}
	if packageInstalled() {
		t.Fatal("a claudebox package is installed already; this test installs and removes its own")
	}
	if _, err := os.Stat("/usr/bin/claudebox"); err == nil {
		t.Fatal("/usr/bin/claudebox exists outside any package; this test would replace it")
	}
	if out, err := exec.Command("dpkg", "-i", debs[0]).CombinedOutput(); err != nil {
		t.Fatalf("dpkg -i %s: %v\n%s", debs[0], err, out)
	}
	removed := false
	t.Cleanup(func() {
		if !removed {
			exec.Command("dpkg", "--purge", "claudebox").Run()
		}
	})
	out, err := exec.Command("dpkg", "-L", "claudebox").Output()
	if err != nil {
		t.Fatal(err)
	}
	var installed []string
	for _, p := range strings.Fields(string(out)) {
		if fi, err := os.Lstat(p); err == nil && fi.Mode().IsRegular() {
			installed = append(installed, p)
		}
	}
	for _, want := range []string{"/usr/bin/claudebox", "/usr/lib/claudebox/cni/bridge", "/usr/share/man/man1/claudebox.1",
		"/usr/share/bash-completion/completions/claudebox"} {
		if !strings.Contains(strings.Join(installed, "\n")+"\n", want+"\n") {
			t.Errorf("the package does not install %s: %v", want, installed)
		}
	}

	in := invocation{bin: "/usr/bin/claudebox", as: testUser, dir: worldProject(t, testUser)}
	mustExit(t, in.run(t, "run", "-q", "--", "true"), 0)
	r := in.inWorld(t, "check")
	mustExit(t, r, 0)
	root := invocation{bin: "/usr/bin/claudebox", dir: in.dir}.inWorld(t, "check")
	if line := lineOf(root.stdout, "CNI plugins"); !strings.HasPrefix(line, "PASS") || !strings.Contains(line, "/usr/lib/claudebox/cni") {
		t.Errorf("the packaged claudebox did not find its plugins: %q", line)
	}
	comp := in.run(t, "completion", "bash")
	mustExit(t, comp, 0)
	mustContain(t, comp, "__start_claudebox")

	if out, err := exec.Command("dpkg", "-r", "claudebox").CombinedOutput(); err != nil {
		t.Fatalf("dpkg -r: %v\n%s", err, out)
	}
	removed = true
	for _, p := range append(installed, "/usr/lib/claudebox") {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("dpkg -r left %s", p)
		}
	}
	// dpkg keeps a removed package's record (its maintainer scripts) until purged.
	if out, err := exec.Command("dpkg", "--purge", "claudebox").CombinedOutput(); err != nil || packageInstalled() {
		t.Errorf("dpkg --purge: %v\n%s", err, out)
	}
}

// packageInstalled reports whether dpkg knows a claudebox package, even
// one removed but not purged.
func packageInstalled() bool {
	out, _ := exec.Command("dpkg-query", "-W", "-f=${Status}", "claudebox").Output()
	return len(out) > 0 && !strings.Contains(string(out), "not-installed")
}
