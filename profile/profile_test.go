package profile

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/claudebox/claudebox/launch"
)

type fixture struct{ dir, home string }

func newFixture(t *testing.T) fixture {
	t.Helper()
	root, _ := filepath.EvalSymlinks(t.TempDir())
	f := fixture{dir: filepath.Join(root, "profiles"), home: filepath.Join(root, "home")}
	for _, d := range []string{f.dir, filepath.Join(f.home, "datasets"), filepath.Join(f.home, "proj")} {
		os.MkdirAll(d, 0o755)
	}
	os.WriteFile(filepath.Join(f.home, "proj/.env"), []byte("X=1"), 0o600)
	return f
}

func (f fixture) write(t *testing.T, name, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(f.dir, name+".json"), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

const example = `{"description": "db work", "env": ["PGHOST=localhost", "EDITOR"],
 "mounts": [{"source": "~/datasets", "mode": "ro"}, {"source": "~/proj/.env", "mode": "hide"},
            {"source": "~/proj", "target": "/work", "mode": "rw"}],
 "network": "inet", "allowNet": ["192.168.1.10:5432"], "sockets": ["~/datasets"], "publish": ["5173", "8080:80"]}`

func TestLoad(t *testing.T) {
	f := newFixture(t)
	f.write(t, "db", example)
	p, err := Load(f.dir, "db", f.home)
	if err != nil {
		t.Fatal(err)
	}
	want := &launch.Profile{
		Name: "db", Description: "db work", Env: []string{"PGHOST=localhost", "EDITOR"},
		Mounts: []launch.Mount{
			{Path: filepath.Join(f.home, "datasets"), Mode: launch.ReadOnly, Why: "profile db"},
			{Path: filepath.Join(f.home, "proj"), Target: "/work", Mode: launch.ReadWrite, Why: "profile db"},
		},
		Hide: []string{filepath.Join(f.home, "proj/.env")}, Network: launch.TierInet, AllowNet: []string{"192.168.1.10:5432"},
		Sockets: []string{filepath.Join(f.home, "datasets")},
		Publish: []string{"5173", "8080:80"},
	}
	if !equal(p, want) {
		t.Errorf("got  %+v\nwant %+v", p, want)
	}
}

func equal(a, b *launch.Profile) bool {
	return a.Name == b.Name && a.Description == b.Description && slices.Equal(a.Env, b.Env) &&
		slices.Equal(a.Mounts, b.Mounts) && slices.Equal(a.Hide, b.Hide) && a.Network == b.Network &&
		slices.Equal(a.AllowNet, b.AllowNet) && slices.Equal(a.Sockets, b.Sockets) && slices.Equal(a.Publish, b.Publish) && slices.Equal(a.Extends, b.Extends)
}

func TestExtends(t *testing.T) {
	f := newFixture(t)
	f.write(t, "base", `{"description": "base", "env": ["A=1"], "network": "none", "mounts": [{"source": "~/datasets", "mode": "ro"}]}`)
	f.write(t, "child", `{"extends": "base", "env": ["B=2"]}`)
	f.write(t, "grandchild", `{"extends": "child", "network": "inet", "description": "gc"}`)
	p, err := Load(f.dir, "grandchild", f.home)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(p.Env, []string{"A=1", "B=2"}) || p.Network != launch.TierInet || p.Description != "gc" ||
		len(p.Mounts) != 1 || p.Mounts[0].Why != "profile base" || !slices.Equal(p.Extends, []string{"child", "base"}) {
		t.Errorf("merged %+v", p)
	}
	f.write(t, "a", `{"extends": "b"}`)
	f.write(t, "b", `{"extends": "c"}`)
	f.write(t, "c", `{"extends": "a"}`)
	if _, err := Load(f.dir, "a", f.home); err == nil || !strings.Contains(err.Error(), "a -> b -> c -> a") {
		t.Errorf("cycle: %v", err)
	}
	f.write(t, "orphan", `{"extends": "nope"}`)
	if _, err := Load(f.dir, "orphan", f.home); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), `orphan extends "nope"`) {
		t.Errorf("missing parent: %v", err)
	}
}

func TestInvalid(t *testing.T) {
	f := newFixture(t)
	for _, c := range []struct{ name, content, want string }{
		{"syntax", "{\n  \"env\": [\"A\",]\n}", "bad.json:2:15: invalid JSON"},
		{"empty", "", "empty or truncated"},
		{"unknown field", `{"environment": ["A"]}`, `unknown field "environment"`},
		{"wrong type", `{"env": "A=1"}`, "env: want []string, not string"},
		{"wrong type in mount", `{"mounts": [{"source": 3}]}`, "mounts.source: want string, not number"},
		{"bad tier", `{"network": "lan"}`, `network: "lan": use "none", "allowlist", "inet" or "full"`},
		{"bad mode", `{"mounts": [{"source": "~/datasets", "mode": "rwx"}]}`, `mounts[0].mode: "rwx"`},
		{"no mode", `{"mounts": [{"source": "~/datasets"}]}`, "mounts[0].mode: missing"},
		{"missing source", `{"mounts": [{"source": "~/nope", "mode": "ro"}]}`, "home/nope does not exist"},
		{"no source", `{"mounts": [{"mode": "ro"}]}`, "mounts[0].source: missing"},
		{"relative source", `{"mounts": [{"source": "datasets", "mode": "ro"}]}`, `"datasets" is relative`},
		{"relative target", `{"mounts": [{"source": "~/datasets", "target": "x", "mode": "ro"}]}`, "mounts[0].target"},
		{"hide with target", `{"mounts": [{"source": "~/datasets", "target": "/x", "mode": "hide"}]}`, "a hidden path has no target"},
		{"bad env", `{"env": ["1A=x"]}`, `env[0]: "1A=x"`},
		{"bad allowNet", `{"network": "inet", "allowNet": ["lan.local"]}`, `allowNet[0]: "lan.local"`},
		{"bad publish", `{"publish": ["5173", ":8080"]}`, `publish[1]: ":8080"`},
		{"two values", `{} {}`, "more than one JSON value"},
		{"relative socket", `{"sockets": ["run/x"]}`, `sockets[0]: "run/x" is relative`},
		{"missing socket", `{"sockets": ["~/nope.sock"]}`, "sockets[0]: "},
		{"bad extends", `{"extends": "../x"}`, "extends"},
		{"bad sshAgent", `{"sshAgent": ["*.example.com"]}`, `sshAgent[0]: "*.example.com"`},
		{"bad sshAgentSign", `{"sshAgentSign": ["file"]}`, `sshAgentSign[0]: "file"`},
		{"bad sshAgentKeys", `{"sshAgentKeys": ["MD5:ab"]}`, `sshAgentKeys[0]: "MD5:ab"`},
		{"bad gitCredentials", `{"gitCredentials": ["https://x.test"]}`, `gitCredentials[0]`},
	} {
		f.write(t, "bad", c.content)
		_, err := Load(f.dir, "bad", f.home)
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: want %q, got %v", c.name, c.want, err)
		}
		if err != nil && !strings.Contains(err.Error(), filepath.Join(f.dir, "bad.json")) {
			t.Errorf("%s: the error does not name the file: %v", c.name, err)
		}
		if launch.Hint(err) == "" {
			t.Errorf("%s: no hint", c.name)
		}
	}
}

func TestNames(t *testing.T) {
	f := newFixture(t)
	for _, bad := range []string{"", ".", "..", "a/b", "../etc", "x y", "a..b"} {
		if CheckName(bad) == nil {
			t.Errorf("name %q accepted", bad)
		}
	}
	_, err := Load(f.dir, "missing", f.home)
	if !errors.Is(err, ErrNotFound) || !strings.Contains(launch.Hint(err), "create") {
		t.Errorf("missing profile, no profiles: %v (%s)", err, launch.Hint(err))
	}
	f.write(t, "zeta", `{}`)
	f.write(t, "alpha", `{"description": "first"}`)
	f.write(t, "broken", `{`)
	_, err = Load(f.dir, "missing", f.home)
	if hint := launch.Hint(err); hint != "existing profiles: alpha, broken, zeta" {
		t.Errorf("hint %q", hint)
	}
	list := List(f.dir, f.home)
	if len(list) != 3 || list[0].Name != "alpha" || list[0].Description != "first" || list[1].Error == "" || list[2].Error != "" {
		t.Errorf("list %+v", list)
	}
}

// TestPrecedence: flag > CLAUDEBOX_NETWORK > profile > default; flags add
// to the profile's env and mounts; a contradicting flag is an error.
func TestPrecedence(t *testing.T) {
	f := newFixture(t)
	f.write(t, "db", example)
	p, err := Load(f.dir, "db", f.home)
	if err != nil {
		t.Fatal(err)
	}
	host := launch.Host{UID: 1000, GID: 1000, Home: f.home, Cwd: filepath.Join(f.home, "proj"), Environ: []string{"PATH=/usr/bin", "EDITOR=vi"}}
	for _, c := range []struct {
		flag, env  string
		wantTier   launch.Tier
		wantSource string
	}{
		{"", "", launch.TierInet, "profile db"},
		{"", "none", launch.TierNone, "CLAUDEBOX_NETWORK"},
		{"full", "none", launch.TierFull, "--network"},
	} {
		h := host
		if c.env != "" {
			h.Environ = append(slices.Clone(h.Environ), "CLAUDEBOX_NETWORK="+c.env)
		}
		allow := []string(nil)
		o := launch.Options{Profile: p, Network: c.flag, Command: []string{"true"}, Project: filepath.Join(f.home, "proj"), AllowNet: allow}
		s, err := launch.Resolve(o, h)
		if c.wantTier != launch.TierInet && err != nil && strings.Contains(err.Error(), "--allow-net needs the inet tier") {
			continue // the profile's allowNet needs inet: refusing is right
		}
		if err != nil {
			t.Fatalf("%+v: %v", c, err)
		}
		if s.Network.Tier != c.wantTier || s.Network.Source != c.wantSource || s.Profile != "db" {
			t.Errorf("%+v: got %+v", c, s.Network)
		}
	}
	s, err := launch.Resolve(launch.Options{Profile: p, Env: []string{"PGHOST=db.internal", "EXTRA=1"}, Command: []string{"true"},
		Project: filepath.Join(f.home, "proj"), RW: []string{filepath.Join(f.home, "datasets")}}, host)
	if err == nil || !strings.Contains(err.Error(), "profile db") || !strings.Contains(err.Error(), "--rw") {
		t.Errorf("a flag contradicting a profile mount must name both: %v %v", s, err)
	}
	s, err = launch.Resolve(launch.Options{Profile: p, Env: []string{"PGHOST=db.internal", "EXTRA=1"}, Command: []string{"true"},
		Project: filepath.Join(f.home, "proj")}, host)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"PGHOST=db.internal", "EXTRA=1", "EDITOR=vi"} {
		if !slices.Contains(s.Env, want) {
			t.Errorf("env lacks %s: %v", want, s.Env)
		}
	}
	if !slices.Contains(s.Hidden, filepath.Join(f.home, "proj/.env")) {
		t.Errorf("profile hide not applied: %v", s.Hidden)
	}
}

func FuzzParse(f *testing.F) {
	home := f.TempDir()
	os.MkdirAll(filepath.Join(home, "datasets"), 0o755)
	for _, seed := range []string{example, `{}`, `{"env":["A"]}`, `{"mounts":[{"source":"~/datasets","mode":"hide"}]}`, `{"network":"none"}`, `[`, `{"extends":"x"}`} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, parent, err := Parse("fuzz.json", b, home)
		if err != nil {
			if !errors.Is(err, ErrInvalid) || launch.Hint(err) == "" {
				t.Fatalf("an error without ErrInvalid or a hint: %v", err)
			}
			return
		}
		if parent != "" && CheckName(parent) != nil {
			t.Fatalf("accepted a bad extends %q", parent)
		}
		for _, m := range p.Mounts {
			if !filepath.IsAbs(m.Path) || (m.Target != "" && !filepath.IsAbs(m.Target)) || (m.Mode != launch.ReadOnly && m.Mode != launch.ReadWrite) {
				t.Fatalf("accepted a bad mount %+v", m)
			}
		}
		for _, e := range p.Env {
			name, _, _ := strings.Cut(e, "=")
			if !launch.ValidEnvName(name) {
				t.Fatalf("accepted env %q", e)
			}
		}
	})
}

func TestSSHAgentFields(t *testing.T) {
	f := newFixture(t)
	f.write(t, "base", `{"sshAgent": ["github.com"]}`)
	f.write(t, "push", `{"extends": "base", "sshAgent": ["git.test:2222"], "sshAgentSign": ["git"]}`)
	p, err := Load(f.dir, "push", f.home)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(p.SSHAgent, []string{"github.com", "git.test:2222"}) || !slices.Equal(p.SSHAgentSign, []string{"git"}) {
		t.Fatalf("sshAgent %q sshAgentSign %q", p.SSHAgent, p.SSHAgentSign)
	}
}
