package gitcred

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// hostGit runs the host's git credential fill for git.test as the user
// would, in dir, with env: the control that shows what the launcher must
// not do.
func hostGit(t *testing.T, dir string, env ...string) string {
	t.Helper()
	cmd := exec.Command("git", "credential", "fill")
	cmd.Dir, cmd.Env = dir, append([]string{"PATH=/usr/bin:/bin", "GIT_TERMINAL_PROMPT=0", "GIT_CONFIG_NOSYSTEM=1"}, env...)
	cmd.Stdin = strings.NewReader("protocol=https\nhost=git.test\n\n")
	out, _ := cmd.CombinedOutput()
	return string(out)
}

// planted is a credential helper as a sandbox would write it: it leaves
// marker behind when the host runs it.
func planted(marker string) string {
	return "[credential]\n\thelper = \"!f() { echo ran > " + marker + "; }; f\"\n"
}

func exists(p string) bool { _, err := os.Lstat(p); return err == nil }

// world is a user's home with a store helper that holds git.test's
// login, and a directory the sandbox can write.
type world struct {
	dir, home, dots, marker string
}

func newWorld(t *testing.T) world {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatal("requires git")
	}
	dir := t.TempDir()
	w := world{dir: dir, home: filepath.Join(dir, "home"), dots: filepath.Join(dir, "home", "dots"), marker: filepath.Join(dir, "PLANTED-HELPER-RAN")}
	for _, d := range []string{w.home, w.dots, filepath.Join(dir, "run")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(w.home, "creds"), []byte("https://u:git-secret@git.test\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return w
}

func (w world) store() string {
	return "[credential]\n\thelper = store --file " + filepath.Join(w.home, "creds") + "\n"
}

func (w world) write(t *testing.T, rel, content string) {
	t.Helper()
	p := filepath.Join(w.home, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// listen serves git.test with w's home; the sandbox can write under
// each of writable.
func (w world) listen(t *testing.T, env []string, writable ...string) (string, error) {
	t.Helper()
	sock := filepath.Join(w.dir, "cred.sock")
	s, err := Listen(Options{Socket: sock, Hosts: []string{"git.test"}, Git: "/usr/bin/git", Dir: filepath.Join(w.dir, "run"),
		Env: append([]string{"HOME=" + w.home, "PATH=/usr/bin:/bin"}, env...),
		Writable: func(p string) (string, bool) {
			for _, d := range writable {
				if p == d || strings.HasPrefix(p, d+"/") {
					return d, true
				}
			}
			return "", false
		}})
	if err != nil {
		return "", err
	}
	t.Cleanup(func() { s.Close() })
	return sock, nil
}

// A configuration file git reads for the fill that the sandbox can write
// refuses the launch, naming the file; the helper planted there never
// runs. Control: the host's own git runs it.
func TestWritableConfigRefused(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, w world) (writable, named string)
		// plants: the host's git runs a helper planted there (the control).
		plants bool
	}{
		{"gitconfig linked into a project", func(t *testing.T, w world) (string, string) {
			w.write(t, "dots/gitconfig", planted(w.marker)+w.store())
			if err := os.Symlink("dots/gitconfig", filepath.Join(w.home, ".gitconfig")); err != nil {
				t.Fatal(err)
			}
			return w.dots, filepath.Join(w.home, ".gitconfig")
		}, true},
		{"gitconfig a dangling link into a project", func(t *testing.T, w world) (string, string) {
			if err := os.Symlink("dots/gitconfig", filepath.Join(w.home, ".gitconfig")); err != nil {
				t.Fatal(err)
			}
			w.write(t, ".config/git/config", w.store())
			return w.dots, filepath.Join(w.home, ".gitconfig")
		}, false},
		{"--project ~", func(t *testing.T, w world) (string, string) {
			w.write(t, ".gitconfig", planted(w.marker)+w.store())
			return w.home, filepath.Join(w.home, ".gitconfig")
		}, true},
		{"--rw ~/.config", func(t *testing.T, w world) (string, string) {
			w.write(t, ".gitconfig", w.store())
			w.write(t, ".config/git/config", planted(w.marker))
			return filepath.Join(w.home, ".config"), filepath.Join(w.home, ".config/git/config")
		}, true},
		{"include into a project", func(t *testing.T, w world) (string, string) {
			w.write(t, ".gitconfig", "[include]\n\tpath = dots/extra\n"+w.store())
			w.write(t, "dots/extra", planted(w.marker))
			return w.dots, filepath.Join(w.home, "dots/extra")
		}, true},
		{"include of a file not made yet", func(t *testing.T, w world) (string, string) {
			w.write(t, ".gitconfig", w.store()+"[include]\n\tpath = ~/dots/later\n")
			return w.dots, filepath.Join(w.home, "dots/later")
		}, false},
		{"includeIf into a project", func(t *testing.T, w world) (string, string) {
			w.write(t, ".gitconfig", w.store()+"[includeIf \"gitdir:~/dots/\"]\n\tpath = dots/work\n")
			return w.dots, filepath.Join(w.home, "dots/work")
		}, false},
		{"helper program in a project", func(t *testing.T, w world) (string, string) {
			helper := filepath.Join(w.dots, "helper")
			w.write(t, "dots/helper", "#!/bin/sh\necho ran > "+w.marker+"\n")
			if err := os.Chmod(helper, 0o700); err != nil {
				t.Fatal(err)
			}
			w.write(t, ".gitconfig", "[credential \"https://git.test\"]\n\thelper = "+helper+" --flag\n")
			return w.dots, helper
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			writable, named := tc.setup(t, w)
			sock, err := w.listen(t, nil, writable)
			if err == nil {
				ask(t, sock, "protocol=https\nhost=git.test\n")
				t.Fatalf("served with %s writable (planted helper ran: %v)", named, exists(w.marker))
			}
			if !strings.Contains(err.Error(), named) || !strings.Contains(err.Error(), writable) {
				t.Errorf("the error does not name %s in %s: %v", named, writable, err)
			}
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Errorf("not a *ConfigError: %T", err)
			}
			if exists(w.marker) {
				t.Errorf("the planted helper ran")
			}
			if tc.plants {
				hostGit(t, w.dir, "HOME="+w.home)
				if !exists(w.marker) {
					t.Errorf("control: the host's git did not run the planted helper")
				}
			}
			// Control: nothing is refused with the tree read-only.
			if _, err := w.listen(t, nil); err != nil {
				t.Errorf("control: refused with nothing writable: %v", err)
			}
		})
	}
}

// What the host's configuration says once the launch started is never
// read: a helper added to any file git would read does not run, while the
// helpers of the launch still answer. Control: the host's git runs it.
func TestSessionConfigIgnored(t *testing.T) {
	w := newWorld(t)
	w.write(t, ".gitconfig", w.store())
	sock, err := w.listen(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	w.write(t, ".gitconfig", planted(w.marker)+w.store())
	w.write(t, ".config/git/config", planted(w.marker))
	if f := ask(t, sock, "protocol=https\nhost=git.test\n"); f["password"] != "git-secret" {
		t.Errorf("the launch's helper did not answer: %v", f)
	}
	if exists(w.marker) {
		t.Fatalf("a helper added during the session ran on the host")
	}
	hostGit(t, w.dir, "HOME="+w.home)
	if !exists(w.marker) {
		t.Fatalf("control: the host's git did not run the planted helper")
	}
}

// No password dialog: neither an askpass program of the host's
// configuration nor SSH_ASKPASS runs when no helper answers. Control: the
// host's git runs both.
func TestNoAskpass(t *testing.T) {
	w := newWorld(t)
	askpass := func(name string) string {
		p := filepath.Join(w.dir, name)
		if err := os.WriteFile(p, []byte("#!/bin/sh\necho ran >> "+p+".ran\necho typed-by-user\n"), 0o700); err != nil {
			t.Fatal(err)
		}
		return p
	}
	core, ssh, gitAsk := askpass("core-askpass"), askpass("ssh-askpass"), askpass("git-askpass")
	w.write(t, ".gitconfig", "[core]\n\taskPass = "+core+"\n")
	sock, err := w.listen(t, []string{"SSH_ASKPASS=" + ssh, "GIT_ASKPASS=" + gitAsk, "DISPLAY=:0", "SSH_ASKPASS_REQUIRE=force"})
	if err != nil {
		t.Fatal(err)
	}
	if f := ask(t, sock, "protocol=https\nhost=git.test\n"); len(f) != 0 {
		t.Errorf("answered %v", f)
	}
	for _, p := range []string{core, ssh, gitAsk} {
		if exists(p + ".ran") {
			t.Errorf("%s ran", filepath.Base(p))
		}
	}
	// Controls: the host's git asks through each.
	hostGit(t, w.dir, "HOME="+w.home)
	w.write(t, ".gitconfig", "")
	hostGit(t, w.dir, "HOME="+w.home, "SSH_ASKPASS="+ssh)
	for _, p := range []string{core, ssh} {
		if !exists(p + ".ran") {
			t.Errorf("control: the host's git did not run %s", filepath.Base(p))
		}
	}
}

// A request of any size is logged in a line of bounded size.
func TestLogBounded(t *testing.T) {
	sock, log := newServer(t, "git.test")
	long := strings.Repeat("h", 60000)
	ask(t, sock, "protocol=http\nhost="+long+"\n")
	ask(t, sock, "protocol=https\nhost="+long+"\n")
	lines := strings.Split(strings.TrimSpace(log.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("log:\n%s", log.String())
	}
	for _, l := range lines {
		if len(l) > 600 || !strings.Contains(l, "hhhh") {
			t.Errorf("a line of %d bytes: %.300s", len(l), l)
		}
	}
}
