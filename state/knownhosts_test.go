package state

import (
	"crypto/ed25519"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/claudebox/claudebox/launch"
	"github.com/claudebox/claudebox/sshagent"
	"golang.org/x/crypto/ssh"
)

// TestKnownHostsWritten: the sandbox's known_hosts holds the named hosts'
// keys; a link the sandbox planted there is replaced, not followed.
func TestKnownHostsWritten(t *testing.T) {
	home, _, instFile := testHome(t)
	homeDir := filepath.Dir(filepath.Dir(instFile))
	victim := filepath.Join(t.TempDir(), "victim")
	os.WriteFile(victim, []byte("mine\n"), 0o600)
	os.MkdirAll(filepath.Join(homeDir, ".ssh"), 0o700)
	if err := os.Symlink(victim, filepath.Join(homeDir, KnownHostsFile)); err != nil {
		t.Fatal(err)
	}
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	k, _ := ssh.NewPublicKey(priv.Public())
	a := &launch.SSHAgent{Hosts: []launch.SSHHost{{Name: "git.test:2222", Addr: "git.test:2222", Keys: []string{sshagent.MarshalKey(k)}}}}
	if err := home.writeKnownHosts(a); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Lstat(filepath.Join(homeDir, KnownHostsFile))
	if err != nil || !fi.Mode().IsRegular() {
		t.Fatalf("known_hosts %v %v, want a regular file", fi, err)
	}
	b, _ := os.ReadFile(filepath.Join(homeDir, KnownHostsFile))
	if !strings.Contains(string(b), "[git.test]:2222 "+sshagent.MarshalKey(k)) {
		t.Fatalf("known_hosts:\n%s", b)
	}
	if v, _ := os.ReadFile(victim); string(v) != "mine\n" {
		t.Fatalf("the link's target was written: %q", v)
	}
}
