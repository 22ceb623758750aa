package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// stageInstall lays out what make build and make docs leave (bin/claudebox,
// bin/cni, bin/share) with hack/install.sh beside it, where the test user
// can read it, and returns the tree's root.
func stageInstall(t *testing.T) string {
	t.Helper()
	share, err := filepath.Abs("../bin/share")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(share, "man1", "claudebox.1")); err != nil {
		t.Fatalf("no generated man pages (run make docs): %v", err)
	}
	src, err := os.MkdirTemp("", "claudebox-install-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(src) })
	os.Chmod(src, 0o755)
	for from, to := range map[string]string{
		binPath: "bin/claudebox",
		filepath.Join(filepath.Dir(binPath), "cni", "bridge"):     "bin/cni/bridge",
		filepath.Join(filepath.Dir(binPath), "cni", "host-local"): "bin/cni/host-local",
		"../hack/install.sh": "hack/install.sh",
	} {
		if err := copyExecutable(from, filepath.Join(src, to)); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := exec.Command("cp", "-r", share, filepath.Join(src, "bin", "share")).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	exec.Command("chmod", "-R", "a+rX", src).Run()
	return src
}

// installScript runs hack/install.sh ACTION from src as a (nil: root) with
// PREFIX=prefix.
func installScript(t *testing.T, src string, a *account, action, prefix string) {
	t.Helper()
	cmd := exec.Command(filepath.Join(src, "hack", "install.sh"), action)
	cmd.Env = append(baseEnv(a), "PREFIX="+prefix)
	if a != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(a.uid), Gid: uint32(a.gid)}}
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("install.sh %s PREFIX=%s: %v\n%s", action, prefix, err, out)
	}
}

// files lists the regular files under dir, relative to it.
func files(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return nil
	})
	return out
}

// TestInstall: make install's script puts claudebox, its plugins, man pages
// and completions under PREFIX, as the user into a prefix of their own
// without root; the installed copy launches, passes --check (finding its
// plugins in PREFIX/lib/claudebox/cni, as root) and completes in bash; and
// uninstall removes exactly that.
func TestInstall(t *testing.T) {
	needSuite(t)
	src := stageInstall(t)
	asUserAndRoot(t, func(t *testing.T, as *account) {
		prefix := filepath.Join(ownedTempDir(t, as, "prefix-"), "local")
		// Something of the user's own in the prefix, which uninstall keeps.
		mine := filepath.Join(prefix, "bin", "mine")
		var err error
		if as != nil {
			err = writeOwned(as, mine, "#!/bin/sh\n")
		} else if err = os.MkdirAll(filepath.Dir(mine), 0o755); err == nil {
			err = os.WriteFile(mine, []byte("#!/bin/sh\n"), 0o755)
		}
		if err != nil {
			t.Fatal(err)
		}
		installScript(t, src, as, "install", prefix)
		want := []string{"bin/claudebox", "lib/claudebox/cni/bridge", "lib/claudebox/cni/host-local",
			"share/bash-completion/completions/claudebox", "share/zsh/site-functions/_claudebox",
			"share/fish/vendor_completions.d/claudebox.fish", "share/man/man1/claudebox.1",
			"share/man/man1/claudebox-run.1", "share/man/man1/claudebox-export-bundle.1", "share/man/man1/claudebox-check.1"}
		got := files(t, prefix)
		for _, f := range want {
			if !strings.Contains(strings.Join(got, "\n")+"\n", f+"\n") {
				t.Errorf("install did not put %s (put %v)", f, got)
			}
		}
		page, _ := os.ReadFile(filepath.Join(prefix, "share/man/man1/claudebox.1"))
		if !strings.Contains(string(page), `.TH "CLAUDEBOX" "1"`) || !strings.Contains(string(page), "allow-host") {
			t.Errorf("claudebox.1 is not the command's man page:\n%.300s", page)
		}

		installed := filepath.Join(prefix, "bin", "claudebox")
		in := invocation{bin: installed, as: as, dir: worldProject(t, as)}
		mustExit(t, in.run(t, "run", "-q", "--", "true"), 0)
		r := in.inWorld(t, "check")
		if as != nil {
			mustExit(t, r, 0)
		} else if line := lineOf(r.stdout, "CNI plugins"); !strings.HasPrefix(line, "PASS") || !strings.Contains(line, filepath.Join(prefix, "lib/claudebox/cni")) {
			// root has no claude here, so only the row that matters.
			t.Errorf("the installed claudebox did not find its plugins in its prefix: %q\n%s", line, r)
		}
		comp := filepath.Join(prefix, "share/bash-completion/completions/claudebox")
		bash := invocation{as: as, dir: in.dir}.command()
		bash.Path, bash.Args = "/bin/bash", []string{"bash", "-c", "source " + comp + " && complete -p claudebox"}
		if out, err := bash.CombinedOutput(); err != nil || !strings.Contains(string(out), "claudebox") {
			t.Errorf("bash completion does not load: %v\n%s", err, out)
		}

		installScript(t, src, as, "uninstall", prefix)
		if left := files(t, prefix); len(left) != 1 || left[0] != "bin/mine" {
			t.Errorf("after uninstall the prefix holds %v, want only bin/mine", left)
		}
	})
}
