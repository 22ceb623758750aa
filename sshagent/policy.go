package sshagent

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"

	"golang.org/x/crypto/ssh"
)

// Host is a host the proxy signs logins for, with the host keys the
// user's known_hosts lists for it.
type Host struct {
	// Name is the host as named (a host name, or [host]:port).
	Name string
	Keys []ssh.PublicKey
}

// Policy is what the proxy passes on to the user's agent.
type Policy struct {
	// Hosts are the hosts whose logins it signs.
	Hosts []Host
	// Identities, when not empty, are the fingerprints (SHA256:...) of
	// the only keys listed and used; empty means all the agent holds.
	Identities []string
	// Namespaces are the SSHSIG namespaces it signs in (ssh-keygen -Y
	// sign -n NAMESPACE; git's is "git"); none when empty.
	Namespaces []string
}

// Fingerprint is a key blob's SHA256 fingerprint, as ssh-keygen -l shows
// it.
func Fingerprint(blob []byte) string {
	h := sha256.Sum256(blob)
	return "SHA256:" + base64.RawStdEncoding.EncodeToString(h[:])
}

// binding is a connection's verified session-bind: the named host whose
// key the server proved it holds, that key, and the session identifier.
type binding struct {
	host               string
	hostKey, sessionID []byte
}

// checkBind verifies a session-bind@openssh.com: the host key signed the
// session identifier (so the client talks to a server that holds it), and
// the key is a named host's in known_hosts. It returns the binding and the
// host key's fingerprint ("" when the message is malformed).
func (p *Policy) checkBind(contents []byte) (*binding, string, error) {
	sb, err := parseSessionBind(contents)
	if err != nil {
		return nil, "", fmt.Errorf("malformed session-bind: %w", err)
	}
	fp := Fingerprint(sb.hostKey)
	if sb.forwarding {
		return nil, fp, errors.New("the client forwards the agent over this session: not passed on")
	}
	hk, err := ssh.ParsePublicKey(sb.hostKey)
	if err != nil {
		return nil, fp, fmt.Errorf("host key: %w", err)
	}
	var sig ssh.Signature
	if err := ssh.Unmarshal(sb.signature, &sig); err != nil {
		return nil, fp, fmt.Errorf("server signature: %w", err)
	}
	if err := hk.Verify(sb.sessionID, &sig); err != nil {
		return nil, fp, fmt.Errorf("the server's signature over the session id does not verify: %w", err)
	}
	for _, h := range p.Hosts {
		if slices.ContainsFunc(h.Keys, func(k ssh.PublicKey) bool { return bytes.Equal(k.Marshal(), sb.hostKey) }) {
			return &binding{host: h.Name, hostKey: sb.hostKey, sessionID: sb.sessionID}, fp, nil
		}
	}
	return nil, fp, errors.New("the server's host key is not one known_hosts lists for a named host")
}

// allowsKey reports whether the identity (a key blob) may be listed and
// used.
func (p *Policy) allowsKey(blob []byte) bool {
	return len(p.Identities) == 0 || slices.Contains(p.Identities, Fingerprint(blob))
}

// Kinds of signature, as logged.
const (
	KindLogin  = "login"
	KindSSHSIG = "sshsig"
)

// checkSign decides a sign request on a connection bound by b (nil: not
// bound). It returns the kind of signature asked for and the host (a
// login's) or namespace (an SSHSIG's) it is for, and an error saying why
// it is refused.
func (p *Policy) checkSign(b *binding, req signRequest) (kind, target string, err error) {
	if !p.allowsKey(req.key) {
		return "", "", errors.New("the key is not one of those forwarded")
	}
	if isSSHSIG(req.data) {
		s, err := parseSSHSIG(req.data)
		if err != nil {
			return KindSSHSIG, "", err
		}
		if !slices.Contains(p.Namespaces, s.namespace) {
			return KindSSHSIG, s.namespace, fmt.Errorf("SSHSIG namespace %q is not allowed", s.namespace)
		}
		return KindSSHSIG, s.namespace, nil
	}
	if b == nil {
		return KindLogin, "", errors.New("no session-bind on this connection: only a login to a named host, bound by ssh (OpenSSH 8.9 or newer), is signed")
	}
	u, err := parseUserauth(req.data)
	if err != nil {
		return KindLogin, b.host, fmt.Errorf("not a login for the bound session: %w", err)
	}
	switch {
	case !bytes.Equal(u.sessionID, b.sessionID):
		return KindLogin, b.host, errors.New("the data does not start with the bound session id")
	case !bytes.Equal(u.key, req.key):
		return KindLogin, b.host, errors.New("the login names another key than the one asked to sign")
	case u.hostbound && !bytes.Equal(u.hostKey, b.hostKey):
		return KindLogin, b.host, errors.New("the login names another host key than the bound one")
	}
	return KindLogin, b.host, nil
}
