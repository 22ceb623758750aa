package launch

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// The tests here pin down security predicates that a mutation run
// (make mutate) found no test held: each fails when its predicate is
// flipped.

// TestAuthOf: an API key wins; only a login of Claude's own shape, in a
// regular file, counts as a login (the host's file: links are the user's).
func TestAuthOf(t *testing.T) {
	login := `{"claudeAiOauth":{"accessToken":"t"}}`
	for _, c := range []struct {
		name  string
		env   []string
		creds func(path string) error
		want  string
	}{
		{"api key", []string{"ANTHROPIC_API_KEY=sk"}, nil, AuthAPIKey},
		{"api key and a login", []string{"ANTHROPIC_API_KEY=sk"}, func(p string) error { return os.WriteFile(p, []byte(login), 0o600) }, AuthAPIKey},
		{"empty api key, a login", []string{"ANTHROPIC_API_KEY="}, func(p string) error { return os.WriteFile(p, []byte(login), 0o600) }, AuthLogin},
		{"a login", nil, func(p string) error { return os.WriteFile(p, []byte(login), 0o600) }, AuthLogin},
		{"nothing", nil, nil, AuthNone},
		{"not a login", nil, func(p string) error { return os.WriteFile(p, []byte(`{"auths":{}}`), 0o600) }, AuthNone},
		{"a FIFO", nil, func(p string) error { return syscall.Mkfifo(p, 0o600) }, AuthNone},
		{"a link to a login (the user's own: followed)", nil, func(p string) error {
			real := filepath.Join(filepath.Dir(p), "real.json")
			if err := os.WriteFile(real, []byte(login), 0o600); err != nil {
				return err
			}
			return os.Symlink(real, p)
		}, AuthLogin},
	} {
		t.Run(c.name, func(t *testing.T) {
			home := t.TempDir()
			if c.creds != nil {
				if err := os.MkdirAll(filepath.Join(home, ".claude"), 0o700); err != nil {
					t.Fatal(err)
				}
				if err := c.creds(CredentialsPath(home)); err != nil {
					t.Fatal(err)
				}
			}
			if got := authOf(c.env, home); got != c.want {
				t.Errorf("authOf = %q, want %q", got, c.want)
			}
		})
	}
}

// TestDefaultHidden: /root is hidden from a user who is not root; a home
// secret that a mount would show is hidden unless a mount names it; a path
// reached by two names is listed once.
func TestDefaultHidden(t *testing.T) {
	home := t.TempDir()
	for _, d := range []string{".ssh", ".aws"} {
		mustMkdir(t, filepath.Join(home, d))
	}
	os.Symlink(filepath.Join(home, ".ssh"), filepath.Join(home, ".gnupg")) // two names, one directory
	shownHome := []Mount{{Path: home, Mode: ReadOnly}}
	for _, c := range []struct {
		name   string
		uid    int
		mounts []Mount
		want   []string // in the list
		absent []string // not in it
	}{
		{"user", 1000, nil, []string{"/root"}, []string{filepath.Join(home, ".ssh")}},
		{"root", 0, nil, nil, []string{"/root"}},
		{"home shown", 1000, shownHome, []string{filepath.Join(home, ".ssh"), filepath.Join(home, ".aws")}, nil},
		{"a secret named", 1000, append(slices.Clone(shownHome), Mount{Path: filepath.Join(home, ".aws"), Mode: ReadOnly}),
			[]string{filepath.Join(home, ".ssh")}, []string{filepath.Join(home, ".aws")}},
		{"/root named", 1000, []Mount{{Path: "/root", Mode: ReadOnly}}, nil, []string{"/root"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := defaultHidden(Host{UID: c.uid, Home: home}, c.mounts)
			for _, w := range c.want {
				if !slices.Contains(got, w) {
					t.Errorf("%s not hidden: %q", w, got)
				}
			}
			for _, a := range c.absent {
				if slices.Contains(got, a) {
					t.Errorf("%s hidden: %q", a, got)
				}
			}
			for i, p := range got {
				if slices.Contains(got[i+1:], p) {
					t.Errorf("%s listed twice: %q", p, got)
				}
			}
		})
	}
}

// TestParseHostBounds: DNS's limits, exactly (a label of 63, a name of
// 253).
func TestParseHostBounds(t *testing.T) {
	label := func(n int) string { return strings.Repeat("a", n) }
	for in, ok := range map[string]bool{
		label(63) + ".com": true,
		label(64) + ".com": false,
		label(63) + "." + label(63) + "." + label(63) + "." + label(61): true, // 253
		label(63) + "." + label(63) + "." + label(63) + "." + label(62): false,
	} {
		if _, err := ParseHost(in, ""); (err == nil) != ok {
			t.Errorf("ParseHost(%d chars, longest label %d) = %v, want ok=%v", len(in), len(strings.Split(in, ".")[0]), err, ok)
		}
	}
}

// TestParseAllowPort: port 0 is refused (an Allow's 0 means every port).
func TestParseAllowPort(t *testing.T) {
	for in, port := range map[string]int{"10.0.0.1:5432": 5432, "10.0.0.0/8:22": 22, "10.0.0.1": 0, "[fd00::1]:443": 443,
		"10.0.0.1:0": -1, "10.0.0.0/8:0": -1, "[fd00::1]:0": -1, "10.0.0.1:65536": -1} {
		a, err := ParseAllow(in)
		if port < 0 {
			if err == nil {
				t.Errorf("ParseAllow(%q) = %v, want an error", in, a)
			}
			continue
		}
		if err != nil || int(a.Port) != port {
			t.Errorf("ParseAllow(%q) = %v, %v; want port %d", in, a, err, port)
		}
	}
}

// TestProtectLifts: only a read-write mount the user asked for that
// covers a protected path lifts its protection (and says so); a path
// already mounted is not listed twice.
func TestProtectLifts(t *testing.T) {
	hooks := Mount{Path: "/p/.git/hooks", Mode: ReadOnly, Protected: true}
	for _, c := range []struct {
		name               string
		mounts             []Mount
		listed, unprotects bool
	}{
		{"nothing asked", []Mount{{Path: "/p", Mode: ReadWrite, Why: "project"}}, true, false},
		{"--ro over it", []Mount{{Path: "/p", Mode: ReadWrite}, {Path: "/p/.git", Mode: ReadOnly}}, true, false},
		{"--rw elsewhere", []Mount{{Path: "/p", Mode: ReadWrite}, {Path: "/data", Mode: ReadWrite}}, true, false},
		{"--rw over it", []Mount{{Path: "/p", Mode: ReadWrite}, {Path: "/p/.git", Mode: ReadWrite}}, false, true},
		{"--rw of it", []Mount{{Path: "/p", Mode: ReadWrite}, {Path: "/p/.git/hooks", Mode: ReadWrite}}, false, true},
		{"--ro of it", []Mount{{Path: "/p", Mode: ReadWrite}, {Path: "/p/.git/hooks", Mode: ReadOnly}}, false, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := protect(slices.Clone(c.mounts), 1, []Mount{hooks})
			listed := slices.ContainsFunc(got, func(m Mount) bool { return m.Protected && m.Path == hooks.Path })
			unprotects := slices.ContainsFunc(got, func(m Mount) bool { return m.Unprotects })
			if listed != c.listed || unprotects != c.unprotects || len(got) != len(c.mounts)+map[bool]int{true: 1}[c.listed] {
				t.Errorf("listed %v, unprotects %v; want %v, %v: %+v", listed, unprotects, c.listed, c.unprotects, got)
			}
			if got[0].Unprotects {
				t.Error("the project mount (not the user's) lifted it")
			}
		})
	}
}

// TestProtectedCommonDir: a worktree's shared git directory (common) is
// protected like the project's own .git.
func TestProtectedCommonDir(t *testing.T) {
	proj, common := t.TempDir(), t.TempDir()
	writeFile(t, filepath.Join(proj, ".git"), "gitdir: "+filepath.Join(common, "worktrees/wt"), 0o644)
	mustMkdir(t, filepath.Join(common, "hooks"))
	writeFile(t, filepath.Join(common, "config"), "x", 0o644)
	var got []string
	for _, m := range protectedIn(proj, common) {
		got = append(got, m.Path)
	}
	want := []string{filepath.Join(common, "hooks"), filepath.Join(common, "config")}
	if !slices.Equal(got, want) {
		t.Errorf("protected %q, want %q", got, want)
	}
	if got := protectedIn(proj, ""); len(got) != 0 {
		t.Errorf("without a common dir: %+v", got)
	}
}

// TestProtectedModuleDepth: submodules' git directories are protected to
// maxModuleDepth levels of nesting, and no deeper (the walk is bounded).
func TestProtectedModuleDepth(t *testing.T) {
	proj := t.TempDir()
	g := filepath.Join(proj, ".git")
	for level := 0; level <= maxModuleDepth+1; level++ {
		mustMkdir(t, filepath.Join(g, "hooks"))
		writeFile(t, filepath.Join(g, "HEAD"), "ref: refs/heads/main\n", 0o644)
		g = filepath.Join(g, "modules", "m")
	}
	var got int
	for _, m := range protectedIn(proj, "") {
		if filepath.Base(m.Path) == "hooks" {
			got++
		}
	}
	if got != maxModuleDepth+1 {
		t.Errorf("%d git directories protected, want %d (the project's and %d levels of submodules)", got, maxModuleDepth+1, maxModuleDepth)
	}
}
