package launch

import (
	"crypto/ed25519"
	"crypto/rand"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/crypto/ssh/knownhosts"
)

// fakeAgent serves an agent holding one key at a socket in dir; it
// returns the socket and the key's fingerprint.
func fakeAgent(t *testing.T, dir string) (string, string) {
	t.Helper()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	ring := agent.NewKeyring()
	if err := ring.Add(agent.AddedKey{PrivateKey: priv}); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "agent.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { _ = agent.ServeAgent(ring, c); c.Close() }()
		}
	}()
	pub, _ := ssh.NewPublicKey(priv.Public())
	return sock, ssh.FingerprintSHA256(pub)
}

func TestSSHAgent(t *testing.T) {
	w := newWorld(t)
	sock, fp := fakeAgent(t, t.TempDir())
	w.host.Environ = append(w.host.Environ, "SSH_AUTH_SOCK="+sock)
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	hk, _ := ssh.NewPublicKey(priv.Public())
	writeFile(t, filepath.Join(w.home, ".ssh/known_hosts"), knownhosts.Line([]string{knownhosts.HashHostname("git.test")}, hk)+"\n", 0o600)
	o := Options{StateDir: filepath.Join(w.home, ".claudebox")}

	good := o
	good.SSHAgent, good.SSHAgentSign, good.SSHAgentKey = []string{"git.test", "GIT.test."}, []string{"git"}, []string{fp}
	s, err := Resolve(run(good), w.host)
	if err != nil {
		t.Fatal(err)
	}
	a := s.SSHAgent
	if a == nil || a.Upstream != sock || a.Keys != 1 || len(a.Hosts) != 1 || !slices.Equal(a.Sign, []string{"git"}) || !slices.Equal(a.Identities, []string{fp}) {
		t.Fatalf("agent %+v", a)
	}
	if h := a.Hosts[0]; h.Name != "git.test" || h.Addr != "git.test:22" || len(h.Keys) != 1 || !strings.HasPrefix(h.Fingerprints[0], "SHA256:") {
		t.Fatalf("host %+v", h)
	}
	if !slices.Contains(s.Env, "SSH_AUTH_SOCK="+SSHAgentSocket) {
		t.Fatalf("env %q", s.Env)
	}
	// Without the flag: no agent, and the host's SSH_AUTH_SOCK stays out.
	s, err = Resolve(run(o), w.host)
	if err != nil || s.SSHAgent != nil || slices.ContainsFunc(s.Env, func(kv string) bool { return strings.HasPrefix(kv, "SSH_AUTH_SOCK=") }) {
		t.Fatalf("no --ssh-agent: %+v %q %v", s.SSHAgent, s.Env, err)
	}

	noAgent := w.host
	noAgent.Environ = append(slices.Clone(w.host.Environ), "SSH_AUTH_SOCK="+filepath.Join(t.TempDir(), "gone"))
	for _, tc := range []struct {
		name string
		o    Options
		h    Host
		want string
	}{
		{"unknown host", Options{SSHAgent: []string{"other.test"}}, w.host, "has no key for other.test"},
		{"no agent", Options{SSHAgent: []string{"git.test"}}, noAgent, "no ssh-agent answers"},
		{"bad host", Options{SSHAgent: []string{"git test"}}, w.host, `--ssh-agent "git test"`},
		{"wildcard", Options{SSHAgent: []string{"*.test"}}, w.host, `--ssh-agent "*.test"`},
		{"key not held", Options{SSHAgent: []string{"git.test"}, SSHAgentKey: []string{"SHA256:" + strings.Repeat("A", 43)}}, w.host, "your agent holds no such key"},
		{"key without host", Options{SSHAgentKey: []string{fp}}, w.host, "--ssh-agent-key without --ssh-agent"},
		{"bad namespace", Options{SSHAgent: []string{"git.test"}, SSHAgentSign: []string{"file"}}, w.host, `--ssh-agent-sign "file"`},
		{"known_hosts writable inside", Options{SSHAgent: []string{"git.test"}, RW: []string{filepath.Join(w.home, ".ssh")}}, w.host, "is writable in the sandbox"},
	} {
		tc.o.StateDir = o.StateDir
		_, err := Resolve(run(tc.o), tc.h)
		if err == nil || !strings.Contains(err.Error(), tc.want) || Hint(err) == "" {
			t.Errorf("%s: %v (hint %q), want %q with a hint", tc.name, err, Hint(err), tc.want)
		}
	}
}

func TestParseSSHHost(t *testing.T) {
	for in, want := range map[string][2]string{
		"github.com":        {"github.com", "github.com:22"},
		"GitHub.com.":       {"github.com", "github.com:22"},
		"git.test:2222":     {"git.test:2222", "git.test:2222"},
		"git.test:22":       {"git.test", "git.test:22"},
		"192.0.2.1":         {"192.0.2.1", "192.0.2.1:22"},
		"[2001:db8::1]:222": {"[2001:db8::1]:222", "[2001:db8::1]:222"},
	} {
		name, addr, err := ParseSSHHost(in)
		if err != nil || name != want[0] || addr != want[1] {
			t.Errorf("%q: %q %q %v, want %q", in, name, addr, err, want)
		}
	}
	for _, bad := range []string{"", "localhost", "*.test", "a..b", "git.test:0", "git.test:x", "fe80::1%eth0", "[fe80::1%eth0]:22", "-x.test"} {
		if _, _, err := ParseSSHHost(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestGitCredentials(t *testing.T) {
	w := newWorld(t)
	bin := filepath.Join(w.proj, "bin")
	mustMkdir(t, bin)
	w.host.Environ = append(w.host.Environ, "PATH="+bin+":/usr/bin:"+filepath.Join(w.home, ".local/bin"))
	s, err := Resolve(run(Options{GitCredential: []string{"git.test", "git.test:443", "Other.test:8443"}}), w.host)
	if err != nil {
		t.Fatal(err)
	}
	g := s.GitCredentials
	if g == nil || len(g.Hosts) != 2 || g.Hosts[0].Host != "git.test" || g.Hosts[1].Host != "other.test:8443" {
		t.Fatalf("%+v", g)
	}
	// The project's bin/ is the sandbox's to write: the host's helpers
	// are never looked up there.
	if strings.Contains(g.Path, bin) || !strings.Contains(g.Path, "/usr/bin") {
		t.Fatalf("helpers' PATH %q", g.Path)
	}
	if !slices.Contains(s.Env, "GIT_CONFIG_KEY_0=credential.helper") || !slices.Contains(s.Env, "GIT_CONFIG_VALUE_0=/.claudebox/claudebox _git-credential "+GitCredentialSocket) {
		t.Fatalf("env %q", s.Env)
	}
	if _, err := Resolve(run(Options{GitCredential: []string{"*.test"}}), w.host); err == nil || Hint(err) == "" {
		t.Fatalf("*.test: %v", err)
	}
}
