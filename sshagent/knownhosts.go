package sshagent

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"strings"
	"time"

	"github.com/claudebox/claudebox/internal/safefs"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// maxKnownHosts caps a known_hosts file.
const maxKnownHosts = 16 << 20

// KnownKeys returns the host keys that the known_hosts files list for
// addr (HOST:PORT), as ssh would accept them: plain or hashed names,
// patterns, keys marked @revoked left out. Files that do not exist are
// skipped; a line the parser does not understand is an error naming the
// file and line. Keys known only through @cert-authority are not
// returned (the proxy matches plain host keys).
func KnownKeys(files []string, addr string) ([]ssh.PublicKey, error) {
	var present []string
	for _, f := range files {
		// A regular file of a sane size (a FIFO would hang the parser);
		// the user's own, which no sandbox can write.
		_, _, err := safefs.ReadTrusted(f, maxKnownHosts)
		switch {
		case err == nil:
			present = append(present, f)
		case !errors.Is(err, fs.ErrNotExist):
			return nil, err
		}
	}
	if len(present) == 0 {
		return nil, nil
	}
	check, err := knownhosts.New(present...)
	if err != nil {
		return nil, err
	}
	// A key no file can list: the answer names every key listed for addr.
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	probe, err := ssh.NewPublicKey(pub)
	if err != nil {
		return nil, err
	}
	remote := &net.TCPAddr{IP: net.IPv4zero}
	var ke *knownhosts.KeyError
	if err := check(addr, remote, probe); !errors.As(err, &ke) {
		return nil, fmt.Errorf("known_hosts: %s: %w", addr, err)
	}
	var keys []ssh.PublicKey
	for _, k := range ke.Want {
		// Listed, and not revoked elsewhere.
		if check(addr, remote, k.Key) == nil {
			keys = append(keys, k.Key)
		}
	}
	return keys, nil
}

// KnownHostsLine is the line of a known_hosts file that lists key for
// addr (HOST:PORT): "HOST KEY", or "[HOST]:PORT KEY" off port 22.
func KnownHostsLine(addr string, key ssh.PublicKey) string {
	return knownhosts.Line([]string{knownhosts.Normalize(addr)}, key)
}

// ParseKey reads a key in the authorized_keys form ("TYPE BASE64").
func ParseKey(s string) (ssh.PublicKey, error) {
	k, _, _, rest, err := ssh.ParseAuthorizedKey([]byte(s))
	if err == nil && strings.TrimSpace(string(rest)) != "" {
		err = errors.New("more than one key")
	}
	return k, err
}

// MarshalKey writes a key in the authorized_keys form, without a newline.
func MarshalKey(k ssh.PublicKey) string {
	return strings.TrimSuffix(string(ssh.MarshalAuthorizedKey(k)), "\n")
}

// Probe asks the agent at socket for its identities and returns their
// fingerprints: an error means no agent answers there.
func Probe(socket string) ([]string, error) {
	if socket == "" {
		return nil, errors.New("SSH_AUTH_SOCK is not set")
	}
	up, err := net.DialTimeout("unix", socket, 2*time.Second)
	if err != nil {
		return nil, err
	}
	defer up.Close()
	resp, err := roundTripWithin(up, []byte{msgRequestIdentities}, 5*time.Second)
	if err != nil {
		return nil, err
	}
	ids, err := parseIdentities(resp)
	if err != nil {
		return nil, fmt.Errorf("not an ssh-agent's answer: %w", err)
	}
	fps := make([]string, len(ids))
	for i, id := range ids {
		fps[i] = Fingerprint(id.blob)
	}
	return fps, nil
}
