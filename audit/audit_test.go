package audit

import (
	"bytes"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/claudebox/claudebox/launch"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func TestMask(t *testing.T) {
	long := "sk-ant-api03-" + strings.Repeat("x", 95)
	for _, c := range []struct {
		name, value string
		masked      bool
	}{
		// Secret by name.
		{"ANTHROPIC_API_KEY", long, true},
		{"GITHUB_TOKEN", "abc", true},
		{"AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG", true},
		{"DB_PASSWORD", "hunter2", true},
		{"NPM_AUTH", "x", true},
		{"GOOGLE_APPLICATION_CREDENTIALS", "/path", true},
		{"SESSION_COOKIE", "v", true},
		{"apikey", "x", true},
		// Secret by value, whatever the name.
		{"NOTES", "ghp_" + strings.Repeat("a", 36), true},
		{"X", "github_pat_" + strings.Repeat("b", 40), true},
		{"X", "AKIAIOSFODNN7EXAMPLE", true},
		{"X", "xoxb-1234567890-abcdef", true},
		{"X", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U", true},
		{"X", "-----BEGIN OPENSSH PRIVATE KEY-----\nabc", true},
		{"X", "sk-" + strings.Repeat("z", 40), true},
		// Near misses: shown whole.
		{"KEYBOARD_LAYOUT", "us", false},
		{"MONKEY", "banana", false},
		{"GIT_AUTHOR_NAME", "Ada", false},
		{"TOKENIZER_PATH", "/x", false},
		{"PWD", "/home/ada", false},
		{"EDITOR", "vim", false},
		{"COLOR", "sky-blue", false},
		{"GREETING", "xoxo", false},
		{"ID", "AKIA-not-a-key", false},
		{"PATH", "/usr/bin:/bin", false},
	} {
		shown, masked := Mask(c.name, c.value)
		if masked != c.masked {
			t.Errorf("Mask(%q, %q) masked=%v, want %v", c.name, c.value, masked, c.masked)
		}
		if masked && len(c.value) > 8 && strings.Contains(shown, c.value[4:]) {
			t.Errorf("Mask(%q) shows too much: %q", c.name, shown)
		}
	}
	if shown, _ := Mask("ANTHROPIC_API_KEY", long); shown != "sk-a…(108 chars)" {
		t.Errorf("shown %q", shown)
	}
	if got := MaskInline("login --token ghp_" + strings.Repeat("a", 36) + " --verbose"); got != "login --token ghp_…(40 chars) --verbose" {
		t.Errorf("MaskInline: %q", got)
	}
	if shown, _ := Mask("DB_PASSWORD", "hunter2"); shown != "…(7 chars)" {
		t.Errorf("a short secret shows a prefix: %q", shown)
	}
}

var spec = &launch.Spec{
	Project: "/home/ada/src/app", Workdir: "/home/ada/src/app",
	Command: []string{"/home/ada/.local/share/claude/versions/2.1.0", "--resume"},
	Env:     []string{"ANTHROPIC_API_KEY=sk-ant-api03-" + strings.Repeat("q", 95), "HOME=/home/ada", "PATH=/usr/bin:/bin"},
	Mounts: []launch.Mount{
		{Path: "/data/shared", Mode: launch.ReadWrite, Why: "--rw"},
		{Path: "/home/ada/src/app", Mode: launch.ReadWrite, Why: "project"},
		{Path: "/home/ada/.local/share/claude/versions", Mode: launch.ReadOnly, Why: "claude"},
		{Path: "/home/ada/.claude/CLAUDE.md", Target: "/home/ada/.claude/CLAUDE.host.md", Mode: launch.ReadOnly, Why: "your ~/.claude/CLAUDE.md"},
	},
	Hidden: []string{"/run/user/1000", "/root", "/home/ada/src/app/.env"},
	UID:    1000, GID: 1000, Home: "/home/ada",
	Instance: &launch.Instance{ID: "app-0123abcd", Dir: "/home/ada/.claudebox/instances/app-0123abcd", Root: "/home/ada/src/app"},
	Auth:     launch.AuthAPIKey,
	Network: launch.Network{Tier: launch.TierInet, Source: "--network",
		Allow: []launch.Allow{{Prefix: netip.MustParsePrefix("192.168.1.10/32"), Port: 5432}}},
	Publish: []launch.Publish{{HostPort: 5173, SandboxPort: 5173}, {Addr: netip.MustParseAddr("192.168.1.5"), HostPort: 8080, SandboxPort: 80}},
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		os.WriteFile(path, got, 0o644)
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./audit -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (run go test ./audit -update and review):\n%s", path, got)
	}
}

func TestRender(t *testing.T) {
	var b bytes.Buffer
	if err := Render(&b, spec); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if strings.Contains(out, strings.Repeat("q", 20)) {
		t.Fatal("the audit shows a secret whole")
	}
	for _, risky := range []string{"/data/shared", "sk-a…", "allow-net", "http://192.168.1.5:8080"} {
		line := lineWith(out, risky)
		if !strings.HasPrefix(line, Risky) {
			t.Errorf("%s is not marked risky: %q", risky, line)
		}
	}
	if line := lineWith(out, "network"); strings.HasPrefix(line, Risky) {
		t.Errorf("inet is not risky: %q", line)
	}
	if line := lineWith(out, "http://localhost:5173"); strings.HasPrefix(line, Risky) || !strings.Contains(line, "127.0.0.1 and ::1") {
		t.Errorf("a loopback publish: %q", line)
	}
	golden(t, "audit.txt", b.Bytes())
}

func lineWith(out, s string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, s) {
			return l
		}
	}
	return ""
}

func TestSandboxMD(t *testing.T) {
	golden(t, "SANDBOX.md", RenderSandboxMD(spec))
	for _, tier := range launch.Tiers {
		s := *spec
		s.Network = launch.Network{Tier: tier, Source: "default"}
		if md := string(RenderSandboxMD(&s)); !strings.Contains(md, "## Network: "+string(tier)) {
			t.Errorf("SANDBOX.md for %s does not say its tier", tier)
		}
	}
}

func TestEnsureImports(t *testing.T) {
	for _, c := range []struct {
		name, in string
		host     bool
		want     string
	}{
		{"new", "", false, "@SANDBOX.md\n"},
		{"new with host", "", true, "@SANDBOX.md\n@CLAUDE.host.md\n"},
		{"user edits kept", "Use tabs.\n\nAlways test.\n", true, "@SANDBOX.md\n@CLAUDE.host.md\n\nUse tabs.\n\nAlways test.\n"},
		{"duplicates removed", "@SANDBOX.md\nmine\n@SANDBOX.md\n  @SANDBOX.md  \n", false, "@SANDBOX.md\n\nmine\n"},
		{"host import dropped when no host file", "@SANDBOX.md\n@CLAUDE.host.md\n\nmine\n", false, "@SANDBOX.md\n\nmine\n"},
	} {
		got := string(EnsureImports([]byte(c.in), c.host))
		if got != c.want {
			t.Errorf("%s: got %q, want %q", c.name, got, c.want)
		}
		for range 3 { // idempotent
			if again := string(EnsureImports([]byte(got), c.host)); again != got {
				t.Errorf("%s: not idempotent: %q -> %q", c.name, got, again)
			}
		}
		if strings.Count(got, ImportLine+"\n") != 1 {
			t.Errorf("%s: %d import lines", c.name, strings.Count(got, ImportLine))
		}
	}
}

// TestSSHAgentShown: the plan marks each host the agent signs for, with
// its host key, and the SSHSIG namespace; SANDBOX.md tells Claude what
// works; neither says anything without --ssh-agent.
func TestSSHAgentShown(t *testing.T) {
	s := &launch.Spec{Project: "/p", Workdir: "/p", Home: "/h", Command: []string{"true"},
		Network: launch.Network{Tier: launch.TierInet, Source: "--network"},
		Env:     []string{"SSH_AUTH_SOCK=" + launch.SSHAgentSocket}}
	var plain bytes.Buffer
	if err := Render(&plain, s); err != nil {
		t.Fatal(err)
	}
	s.SSHAgent = &launch.SSHAgent{Keys: 2, Sign: []string{"git"}, Hosts: []launch.SSHHost{{Name: "github.com", Why: "--ssh-agent", Fingerprints: []string{"SHA256:abc"}}}}
	var b bytes.Buffer
	if err := Render(&b, s); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"! ssh-agent", "github.com", "SHA256:abc", "sign git", launch.SSHAgentSocket} {
		if !strings.Contains(b.String(), want) || strings.Contains(plain.String(), "ssh-agent ") {
			t.Errorf("plan lacks %q (or shows an agent without one):\n%s", want, b.String())
		}
	}
	md := string(RenderSandboxMD(s))
	if !strings.Contains(md, "## SSH") || !strings.Contains(md, "`github.com`") || !strings.Contains(md, "gpg.format=ssh") {
		t.Errorf("SANDBOX.md:\n%s", md)
	}
	s.SSHAgent = nil
	if md := string(RenderSandboxMD(s)); strings.Contains(md, "## SSH") {
		t.Errorf("SANDBOX.md speaks of an agent without one")
	}
}

// TestGitCredentialShown: the plan marks each --git-credential host (its
// login enters the sandbox); SANDBOX.md names them.
func TestGitCredentialShown(t *testing.T) {
	s := &launch.Spec{Project: "/p", Workdir: "/p", Home: "/h", Command: []string{"true"},
		Network:        launch.Network{Tier: launch.TierInet, Source: "--network"},
		GitCredentials: &launch.GitCredentials{Hosts: []launch.GitCredentialHost{{Host: "git.example.com", Why: "--git-credential"}}}}
	var b bytes.Buffer
	if err := Render(&b, s); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "! git-credential") || !strings.Contains(b.String(), "git.example.com") {
		t.Errorf("plan:\n%s", b.String())
	}
	if md := string(RenderSandboxMD(s)); !strings.Contains(md, "`https://git.example.com`") {
		t.Errorf("SANDBOX.md:\n%s", md)
	}
}

// In the full tier a publish is not an error and not served: the plan
// says it is not needed.
func TestRenderPublishFull(t *testing.T) {
	full := *spec
	full.Network = launch.Network{Tier: launch.TierFull, Source: "default"}
	var b bytes.Buffer
	if err := Render(&b, &full); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"5173", "192.168.1.5:8080:80"} {
		line := lineWith(b.String(), " "+p+" ")
		if !strings.Contains(line, "not needed in full") || strings.HasPrefix(line, Risky) {
			t.Errorf("publish %s in full: %q", p, line)
		}
	}
	if md := string(RenderSandboxMD(&full)); strings.Contains(md, "Published ports") || !strings.Contains(md, "http://localhost:N") {
		t.Errorf("SANDBOX.md in full says:\n%s", md)
	}
}

// TestRenderEscapes: a project path with a newline and an escape sequence
// in it stays on its row of the launch plan, escaped.
func TestRenderEscapes(t *testing.T) {
	s := *spec
	s.Project, s.Workdir = "/home/ada/a\nFAKE ROW\x1b[2J", "/home/ada/a\rb"
	s.Notes = []string{"note\nfake"}
	var b bytes.Buffer
	if err := Render(&b, &s); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if strings.ContainsAny(out, "\r\x1b") || strings.Contains(out, "\nFAKE ROW") {
		t.Errorf("a control character reached the plan:\n%q", out)
	}
	for _, want := range []string{`/home/ada/a\nFAKE ROW\x1b[2J`, `/home/ada/a\rb`, `note: note\nfake`} {
		if !strings.Contains(out, want) {
			t.Errorf("the plan lacks %q:\n%s", want, out)
		}
	}
}
