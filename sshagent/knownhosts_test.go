package sshagent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

func TestKnownKeys(t *testing.T) {
	var keys []ssh.PublicKey
	for range 5 {
		s, _ := newSigner(t)
		keys = append(keys, s.PublicKey())
	}
	line := func(host string, k ssh.PublicKey) string { return knownhosts.Line([]string{host}, k) }
	file := filepath.Join(t.TempDir(), "known_hosts")
	content := strings.Join([]string{
		"# a comment",
		line("git.test", keys[0]),
		line(knownhosts.HashHostname("git.test"), keys[1]), // hashed
		line("other.test", keys[2]),
		line("[git.test]:2222", keys[3]),
		"@revoked " + line("*", keys[4]),
		line("git.test", keys[4]), // listed, but revoked above
	}, "\n") + "\n"
	if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	same := func(got []ssh.PublicKey, want ...ssh.PublicKey) bool {
		if len(got) != len(want) {
			return false
		}
		for i := range got {
			if string(got[i].Marshal()) != string(want[i].Marshal()) {
				return false
			}
		}
		return true
	}
	missing := filepath.Join(t.TempDir(), "absent")
	for addr, want := range map[string][]ssh.PublicKey{
		"git.test:22":   {keys[0], keys[1]},
		"other.test:22": {keys[2]},
		"git.test:2222": {keys[3]},
		"nope.test:22":  nil,
	} {
		got, err := KnownKeys([]string{missing, file}, addr)
		if err != nil || !same(got, want...) {
			t.Errorf("%s: got %d keys (%v), want %d", addr, len(got), err, len(want))
		}
	}
	if err := os.WriteFile(file, []byte("git.test not-a-key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := KnownKeys([]string{file}, "git.test:22"); err == nil || !strings.Contains(err.Error(), file+":1") {
		t.Errorf("a bad line: %v, want an error naming %s:1", err, file)
	}
	if got := KnownHostsLine("git.test:2222", keys[0]); !strings.HasPrefix(got, "[git.test]:2222 ssh-ed25519 ") {
		t.Errorf("line %q", got)
	}
}
