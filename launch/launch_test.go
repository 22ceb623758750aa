package launch

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// world is a fake host: a home with a project, secrets and a claude.
type world struct {
	root, home, proj string
	host             Host
}

func newWorld(t *testing.T) *world {
	t.Helper()
	root, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	w := &world{root: root, home: filepath.Join(root, "home/ada")}
	w.proj = filepath.Join(w.home, "src/app")
	for _, d := range []string{"usr/bin", "etc", "var/tmp", "tmp", "proc", "home/ada/.ssh", "home/ada/.config/gh", "home/ada/.local/bin", "home/ada/src/app/.git", "home/ada/src/app/pkg/sub", "home/ada/notes"} {
		mustMkdir(t, filepath.Join(root, d))
	}
	if err := os.Symlink("usr/bin", filepath.Join(root, "bin")); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(w.home, ".ssh/id_ed25519"), "key", 0o600)
	writeFile(t, filepath.Join(w.proj, ".env"), "X=1", 0o600)
	w.host = Host{
		UID: 1000, GID: 1000, Home: w.home, Cwd: w.proj, Root: root,
		Environ: []string{
			"PATH=" + filepath.Join(w.home, ".local/bin") + ":/usr/bin", "HOME=" + w.home, "TERM=xterm",
			"GITHUB_TOKEN=ghp_x", "AWS_SECRET_ACCESS_KEY=y", "SSH_AUTH_SOCK=/run/user/1000/agent", "KUBECONFIG=/k",
			"LC_ALL=C", "ANTHROPIC_API_KEY=sk-ant-z", "CLAUDE_CODE_USE_BEDROCK=1", "EDITOR=vi", "FOO=bar",
		},
	}
	return w
}

func mustMkdir(t *testing.T, p string) {
	t.Helper()
	if err := os.MkdirAll(p, 0o755); err != nil {
		t.Fatal(err)
	}
}

func writeFile(t *testing.T, p, content string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
}

func run(o Options) Options {
	if len(o.Command) == 0 {
		o.Command = []string{"true"}
	}
	return o
}

func TestEnvAllowlist(t *testing.T) {
	w := newWorld(t)
	s, err := Resolve(run(Options{Env: []string{"FOO", "NEW=a=b", "MISSING"}}), w.host)
	if err != nil {
		t.Fatal(err)
	}
	env := strings.Join(s.Env, "\n") + "\n"
	for _, want := range []string{"TERM=xterm\n", "LC_ALL=C\n", "ANTHROPIC_API_KEY=sk-ant-z\n", "CLAUDE_CODE_USE_BEDROCK=1\n", "EDITOR=vi\n", "FOO=bar\n", "NEW=a=b\n", "CLAUDEBOX=1\n", "HOME=" + w.home + "\n"} {
		if !strings.Contains(env, want) {
			t.Errorf("env lacks %q:\n%s", want, env)
		}
	}
	for _, bad := range []string{"GITHUB_TOKEN", "AWS_SECRET_ACCESS_KEY", "SSH_AUTH_SOCK", "KUBECONFIG", "MISSING"} {
		if strings.Contains(env, bad) {
			t.Errorf("env leaks %s:\n%s", bad, env)
		}
	}
	if !slices.IsSorted(s.Env) {
		t.Error("env is not sorted")
	}
}

func TestEnvDefaultPath(t *testing.T) {
	w := newWorld(t)
	w.host.Environ = []string{"HOME=" + w.home}
	s, err := Resolve(run(Options{}), w.host)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(s.Env, "PATH="+DefaultPath) {
		t.Errorf("no default PATH: %v", s.Env)
	}
}

func TestProjectAndWorkdir(t *testing.T) {
	w := newWorld(t)
	sub := filepath.Join(w.proj, "pkg/sub")
	link := filepath.Join(w.root, "link-to-app")
	if err := os.Symlink(w.proj, link); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, cwd, project string
		wantProj, wantWd   string
	}{
		{"git top level from a subdir", sub, "", w.proj, sub},
		{"explicit project, cwd inside", sub, w.proj, w.proj, sub},
		{"relative project", w.home, "src/app", w.proj, w.proj},
		{"cwd outside the project", filepath.Join(w.home, "notes"), w.proj, w.proj, w.proj},
		{"symlinked project", w.home, link, w.proj, w.proj},
		{"no git: the current directory", filepath.Join(w.home, "notes"), "", filepath.Join(w.home, "notes"), filepath.Join(w.home, "notes")},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := w.host
			h.Cwd = c.cwd
			s, err := Resolve(run(Options{Project: c.project}), h)
			if err != nil {
				t.Fatal(err)
			}
			if s.Project != c.wantProj || s.Workdir != c.wantWd {
				t.Errorf("project %s workdir %s, want %s %s", s.Project, s.Workdir, c.wantProj, c.wantWd)
			}
			if !slices.Contains(s.Mounts, Mount{Path: c.wantProj, Mode: ReadWrite, Why: "project"}) {
				t.Errorf("no project mount in %+v", s.Mounts)
			}
		})
	}
}

func TestMountsAndHidden(t *testing.T) {
	w := newWorld(t)
	s, err := Resolve(run(Options{RO: []string{"pkg", "../../notes"}, Hide: []string{".env"}}), w.host)
	if err != nil {
		t.Fatal(err)
	}
	// Sorted parents first: notes is shallower than the project.
	want := []Mount{
		{Path: filepath.Join(w.home, "notes"), Mode: ReadOnly, Why: "--ro"},
		{Path: w.proj, Mode: ReadWrite, Why: "project"},
		{Path: filepath.Join(w.home, ".local/bin"), Mode: ReadOnly, Why: "tools on PATH"}, // on the host PATH
		{Path: filepath.Join(w.proj, "pkg"), Mode: ReadOnly, Why: "--ro"},
	} // .git holds no HEAD: not a git directory, nothing of it protected (TestProtected)
	if !slices.Equal(s.Mounts, want) {
		t.Errorf("mounts %+v\nwant %+v", s.Mounts, want)
	}
	if !slices.Contains(s.Hidden, filepath.Join(w.proj, ".env")) {
		t.Errorf("hidden %v lacks .env", s.Hidden)
	}
	if !slices.Equal(s.Scratch, []string{"/tmp", "/var/tmp"}) {
		t.Errorf("scratch %v", s.Scratch)
	}
	var names []string
	for _, e := range s.HostRoot {
		names = append(names, e.Name+"->"+e.Link)
	}
	if !slices.Equal(names, []string{"bin->usr/bin", "etc->", "home->", "usr->", "var->"}) {
		t.Errorf("host root %v (proc and tmp must not be listed)", names)
	}
}

// TestSecretFloor: secrets under home stay hidden when a mount would show
// them, unless named.
func TestSecretFloor(t *testing.T) {
	w := newWorld(t)
	h := w.host
	h.Cwd = w.home
	s, err := Resolve(run(Options{Project: w.home}), h)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(s.Hidden, filepath.Join(w.home, ".ssh")) || !slices.Contains(s.Hidden, filepath.Join(w.home, ".config/gh")) {
		t.Errorf("home as project must still hide ~/.ssh and ~/.config/gh: %v", s.Hidden)
	}
	s, err = Resolve(run(Options{Project: w.home, RO: []string{".ssh"}}), h)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(s.Hidden, filepath.Join(w.home, ".ssh")) {
		t.Errorf("a named ~/.ssh must be shown: %v", s.Hidden)
	}
	s, err = Resolve(run(Options{}), w.host)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(s.Hidden, filepath.Join(w.home, ".ssh")) {
		t.Errorf("~/.ssh is not under any mount and needs no mask: %v", s.Hidden)
	}
}

func TestClaudeLookup(t *testing.T) {
	w := newWorld(t)
	claude := filepath.Join(w.home, ".local/bin/claude")
	writeFile(t, claude, "#!/bin/sh\n", 0o755)
	s, err := Resolve(Options{ClaudeArgs: []string{"--resume"}}, w.host)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(s.Command, []string{claude, "--resume"}) {
		t.Errorf("command %v", s.Command)
	}
	if !slices.Contains(s.Mounts, Mount{Path: filepath.Dir(claude), Mode: ReadOnly, Why: "claude"}) {
		t.Errorf("claude under home must be mounted read-only: %+v", s.Mounts)
	}
	if !slices.Contains(s.Env, "DISABLE_AUTOUPDATER=1") {
		t.Error("claude's tree is read-only: its autoupdater must be off")
	}
	if slices.ContainsFunc(s.Mounts, func(m Mount) bool { return m.Why == "tools on PATH" && m.Path == filepath.Dir(claude) }) {
		t.Error("a directory mounted for claude is mounted twice")
	}
}

// TestClaudeOfficialLayout: the native installer's symlink into a
// versions directory, and an npm package, are followed to their trees.
func TestClaudeOfficialLayout(t *testing.T) {
	w := newWorld(t)
	versions := filepath.Join(w.home, ".local/share/claude/versions")
	mustMkdir(t, versions)
	writeFile(t, filepath.Join(versions, "2.1.0"), "#!/bin/sh\n", 0o755)
	os.Symlink(filepath.Join(versions, "2.1.0"), filepath.Join(w.home, ".local/bin/claude"))
	s, err := Resolve(Options{}, w.host)
	if err != nil {
		t.Fatal(err)
	}
	if s.Command[0] != filepath.Join(versions, "2.1.0") || !slices.Contains(s.Mounts, Mount{Path: versions, Mode: ReadOnly, Why: "claude"}) {
		t.Errorf("native layout: command %v mounts %+v", s.Command, s.Mounts)
	}

	pkg := filepath.Join(w.home, "npm/node_modules/@anthropic-ai/claude-code")
	mustMkdir(t, filepath.Join(pkg, "bin"))
	writeFile(t, filepath.Join(pkg, "package.json"), "{}", 0o644)
	writeFile(t, filepath.Join(pkg, "bin/claude.exe"), "x", 0o755)
	mustMkdir(t, filepath.Join(w.home, "npm/node_modules/.bin"))
	os.Symlink("../@anthropic-ai/claude-code/bin/claude.exe", filepath.Join(w.home, "npm/node_modules/.bin/claude"))
	h := w.host
	h.Environ = append(slices.Clone(h.Environ), "PATH="+filepath.Join(w.home, "npm/node_modules/.bin")+":/usr/bin")
	s, err = Resolve(Options{}, h)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(s.Mounts, Mount{Path: pkg, Mode: ReadOnly, Why: "claude"}) {
		t.Errorf("npm layout: the package is not mounted: %+v", s.Mounts)
	}
}

func TestBadInput(t *testing.T) {
	w := newWorld(t)
	file := filepath.Join(w.proj, ".env")
	// Planted by a sandbox: a link in the project to a secret location.
	if err := os.Symlink(filepath.Join(w.home, ".ssh"), filepath.Join(w.proj, "vendor")); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name     string
		opts     Options
		cwd      string
		sentinel error
		want     string
	}{
		{"missing project", Options{Project: "/nonexistent"}, "", ErrBadProject, "--project /nonexistent: no such file or directory"},
		{"project is a file", Options{Project: file}, "", ErrBadProject, "is not a directory"},
		{"project is /", Options{Project: "/"}, "", ErrBadProject, "whole host"},
		{"bare home", Options{}, w.home, ErrBadProject, "not inside a project"},
		{"missing --ro", Options{RO: []string{"nope"}}, "", ErrBadPath, "--ro nope: no such file or directory"},
		{"missing --hide", Options{Hide: []string{"/nope"}}, "", ErrBadPath, "--hide /nope"},
		{"--rw of /", Options{RW: []string{"/"}}, "", ErrBadPath, "host root"},
		{"bad env name", Options{Env: []string{"A-B=1"}}, "", ErrBadEnv, `"A-B"`},
		{"empty env name", Options{Env: []string{"=x"}}, "", ErrBadEnv, "not a valid variable name"},
		{"ro and rw", Options{RO: []string{"pkg"}, RW: []string{"pkg"}}, "", ErrBadPath, "both ro"},
		{"hide and mount", Options{RO: []string{"pkg"}, Hide: []string{"pkg"}}, "", ErrBadPath, "hidden (--hide) and mounted"},
		{"no claude", Options{}, "", ErrNoClaude, "no claude on PATH"},
		{"--ro out through a project link", Options{RO: []string{"vendor"}}, "", ErrBadPath, "--ro vendor leads out of the project through a link in it"},
		{"--rw out through a project link", Options{RW: []string{w.proj + "/vendor"}}, "", ErrBadPath, "through a link in it, to " + filepath.Join(w.home, ".ssh")},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := w.host
			if c.cwd != "" {
				h.Cwd = c.cwd
			}
			o := c.opts
			if c.sentinel != ErrNoClaude {
				o = run(o)
			}
			_, err := Resolve(o, h)
			if !errors.Is(err, c.sentinel) {
				t.Fatalf("want %v, got %v", c.sentinel, err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q lacks %q", err, c.want)
			}
			if Hint(err) == "" {
				t.Errorf("error %q has no hint", err)
			}
		})
	}
}

func TestNetworkPrecedence(t *testing.T) {
	w := newWorld(t)
	for _, c := range []struct {
		flag, env  string
		allow      []string
		wantTier   Tier
		wantSource string
		wantErr    string
	}{
		{"", "", nil, TierFull, "default", ""},
		{"", "inet", nil, TierInet, "CLAUDEBOX_NETWORK", ""},
		{"none", "inet", nil, TierNone, "--network", ""},
		{"bogus", "", nil, "", "", `unknown network tier "bogus"`},
		{"", "bogus", nil, "", "", "CLAUDEBOX_NETWORK"},
		{"inet", "", []string{"192.168.1.10:5432", "10.0.0.0/8", "[fd00::1]:80", "10.1.0.0/16:22"}, TierInet, "--network", ""},
		{"full", "", []string{"192.168.1.10"}, "", "", "--allow-net needs the inet tier"},
		{"inet", "", []string{"192.168.1.10:99999"}, "", "", "--allow-net"},
		{"inet", "", []string{"example.com"}, "", "", "--allow-net"},
	} {
		h := w.host
		if c.env != "" {
			h.Environ = append(slices.Clone(h.Environ), "CLAUDEBOX_NETWORK="+c.env)
		}
		s, err := Resolve(run(Options{Network: c.flag, AllowNet: c.allow}), h)
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) || Hint(err) == "" {
				t.Errorf("flag %q env %q allow %v: want error %q with a hint, got %v", c.flag, c.env, c.allow, c.wantErr, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("flag %q env %q: %v", c.flag, c.env, err)
		}
		if s.Network.Tier != c.wantTier || s.Network.Source != c.wantSource || len(s.Network.Allow) != len(c.allow) {
			t.Errorf("flag %q env %q: got %+v", c.flag, c.env, s.Network)
		}
	}
	a, _ := ParseAllow("[fd00::1]:80")
	if a.String() != "[fd00::1]:80" {
		t.Errorf("allow round trip: %s", a)
	}
}

func FuzzUserInput(f *testing.F) {
	for _, s := range []string{"inet", "none", "allowlist", "github.com", "*.npmjs.org:443", "192.168.1.10:5432", "[fd00::1]:80", "10.0.0.0/8:22", "A=B", "1BAD", "", ":", "/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if tier, err := ParseTier(s); err == nil && !slices.Contains(Tiers, tier) {
			t.Fatalf("ParseTier(%q) = %q", s, tier)
		}
		if a, err := ParseAllow(s); err == nil {
			again, err := ParseAllow(a.String())
			if err != nil || again != a {
				t.Fatalf("ParseAllow(%q) = %v, but its String %q reads back as %v, %v", s, a, a.String(), again, err)
			}
		} else if Hint(err) == "" {
			t.Fatalf("ParseAllow(%q): error without a hint", s)
		}
		if h, err := ParseHost(s, ""); err == nil {
			// Each port of a rule reads back as itself, and a rule matches
			// its own name (or, for *.DOMAIN, a name under it).
			for _, port := range h.Ports {
				one := fmt.Sprintf("%s:%d", h.Pattern, port)
				again, err := ParseHost(one, "")
				if err != nil || again.Pattern != h.Pattern || len(again.Ports) != 1 || again.Ports[0] != port {
					t.Fatalf("ParseHost(%q) = %v, but %q reads back as %v, %v", s, h, one, again, err)
				}
			}
			if name := strings.Replace(h.Pattern, "*.", "x.", 1); !h.Matches(name) {
				t.Fatalf("ParseHost(%q) = %v does not match %q", s, h, name)
			}
		} else if Hint(err) == "" {
			t.Fatalf("ParseHost(%q): error without a hint", s)
		}
		env, err := buildEnv([]string{"PATH=/bin", "HOME=/h"}, []string{s}, "/h")
		if err == nil {
			for _, kv := range env {
				name, _, _ := strings.Cut(kv, "=")
				if !ValidEnvName(name) {
					t.Fatalf("--env %q produced %q", s, kv)
				}
			}
		}
	})
}

func TestParseHost(t *testing.T) {
	for _, c := range []struct {
		in, want string
		ok       bool
	}{
		{"github.com", "github.com:443,80", true},
		{"GitHub.com.", "github.com:443,80", true},
		{"*.npmjs.org", "*.npmjs.org:443,80", true},
		{"github.com:22", "github.com:22", true},
		{"github.com:22/nameless", "github.com:22/nameless", true},
		{"*.example.com:2222/nameless", "*.example.com:2222/nameless", true},
		{"github.com/nameless", "", false},
		{"github.com:22/ssh", "", false},
		{"github.com:22/nameless/nameless", "", false},
		{"localhost", "", false},
		{"198.51.100.10", "", false},
		{"*.com", "", false},
		{"a..b", "", false},
		{"-a.b", "", false},
		{"a_b.com", "", false},
		{"github.com:0", "", false},
		{"github.com:http", "", false},
		{"*.*.com", "", false},
	} {
		h, err := ParseHost(c.in, "test")
		if (err == nil) != c.ok || c.ok && h.String() != c.want {
			t.Errorf("ParseHost(%q) = %s, %v; want %q ok=%v", c.in, h, err, c.want, c.ok)
		}
		if err != nil && Hint(err) == "" {
			t.Errorf("ParseHost(%q): no hint", c.in)
		}
	}
	h, _ := ParseHost("*.npmjs.org", "")
	for name, want := range map[string]bool{"registry.npmjs.org": true, "a.b.npmjs.org": true, "npmjs.org": false, "evilnpmjs.org": false} {
		if h.Matches(name) != want {
			t.Errorf("*.npmjs.org matches %s: %v", name, !want)
		}
	}
}

func TestAllowlistTier(t *testing.T) {
	w := newWorld(t)
	s, err := Resolve(run(Options{Network: "allowlist", AllowHost: []string{"github.com", "*.npmjs.org:443"}}), w.host)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, h := range s.Network.Hosts {
		got = append(got, h.String()+" "+h.Why)
	}
	want := []string{"api.anthropic.com:443,80 Claude Code", "platform.claude.com:443,80 Claude Code", "claude.ai:443,80 Claude Code",
		"github.com:443,80 --allow-host", "*.npmjs.org:443 --allow-host"}
	if !slices.Equal(got, want) {
		t.Errorf("hosts %q\nwant %q", got, want)
	}
	if _, err := Resolve(run(Options{Network: "inet", AllowHost: []string{"github.com"}}), w.host); err == nil || !strings.Contains(err.Error(), "--allow-host needs the allowlist tier") {
		t.Errorf("--allow-host with inet: %v", err)
	}
}
