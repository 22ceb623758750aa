package launch

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/claudebox/claudebox/sshagent"
)

// ErrSSHAgent: an --ssh-agent the launch cannot honour.
var ErrSSHAgent = errors.New("cannot forward the ssh-agent")

// SSHAgentSocket is where the sandbox finds its agent (SSH_AUTH_SOCK):
// the launcher's proxy, in front of the user's own agent.
const SSHAgentSocket = "/.claudebox/ssh-agent.sock"

// SSHAgent is what the sandbox's ssh-agent passes on to the user's own
// (--ssh-agent, --ssh-agent-sign; package sshagent serves it).
type SSHAgent struct {
	// Upstream is the user's agent: the host's SSH_AUTH_SOCK.
	Upstream string `json:"upstream"`
	// Hosts are the hosts whose logins it signs, each with the keys the
	// user's known_hosts lists for it; these are also the sandbox's
	// ~/.ssh/known_hosts.
	Hosts []SSHHost `json:"hosts,omitempty"`
	// Sign are the SSHSIG namespaces it signs in ("git": commits signed
	// with gpg.format=ssh).
	Sign []string `json:"sign,omitempty"`
	// Keys in the user's agent when the launch was resolved.
	Keys int `json:"keys"`
	// Identities, when not empty, are the fingerprints of the only keys
	// listed and used (--ssh-agent-key); else all the agent holds.
	Identities []string `json:"identities,omitempty"`
}

// SSHHost is a host the sandbox's agent signs logins for.
type SSHHost struct {
	// Name is the host as named: HOST, or HOST:PORT off port 22.
	Name string `json:"name"`
	// Addr is HOST:PORT.
	Addr string `json:"addr"`
	// Keys are its host keys, in the authorized_keys form, and
	// Fingerprints theirs (SHA256:...).
	Keys         []string `json:"keys"`
	Fingerprints []string `json:"fingerprints"`
	// Why says who named it: "--ssh-agent", "profile NAME".
	Why string `json:"why"`
}

// SSHSignNamespaces are the SSHSIG namespaces --ssh-agent-sign takes.
var SSHSignNamespaces = []string{"git"}

// ParseSSHHost reads HOST or HOST:PORT ([V6]:PORT): a host name or an
// address, as ssh takes it; it returns the name as shown and HOST:PORT.
func ParseSSHHost(s string) (name, addr string, err error) {
	host, port, err := parseHostPort(s, "22")
	if err != nil {
		return "", "", withHint(fmt.Errorf("%w: --ssh-agent %q", ErrSSHAgent, s),
			"give the host as you ssh to it, HOST or HOST:PORT, e.g. --ssh-agent github.com")
	}
	addr = net.JoinHostPort(host, port)
	name = host
	if port != "22" {
		name = addr
	}
	return name, addr, nil
}

// parseHostPort reads HOST or HOST:PORT ([V6]:PORT), HOST a host name (no
// pattern) or an address without a zone, in lower case; port is def when
// not given.
func parseHostPort(s, def string) (host, port string, err error) {
	bad := errors.New("not HOST or HOST:PORT")
	host, port = strings.ToLower(strings.TrimSuffix(s, ".")), def
	if h, p, err := net.SplitHostPort(host); err == nil {
		n, perr := strconv.ParseUint(p, 10, 16)
		if perr != nil || n == 0 {
			return "", "", bad
		}
		host, port = h, strconv.FormatUint(n, 10)
	}
	if _, err := netip.ParseAddr(host); err != nil {
		if r, err := ParseHost(host, ""); err != nil || strings.HasPrefix(r.Pattern, "*.") {
			return "", "", bad
		}
	} else if strings.Contains(host, "%") {
		return "", "", bad
	}
	return host, port, nil
}

// named is a value and who named it: a flag or the profile.
type named struct{ value, why string }

// namedBy lists the profile's values, then the flag's.
func (r *resolver) namedBy(fromProfile, fromFlag []string, flag string) []named {
	var out []named
	for _, v := range fromProfile {
		out = append(out, named{v, "profile " + r.profile.Name})
	}
	for _, v := range fromFlag {
		out = append(out, named{v, flag})
	}
	return out
}

// IsKeyFingerprint reports whether s is a key's SHA256 fingerprint as
// ssh-add -l shows it: SHA256: and 43 characters of unpadded base64.
func IsKeyFingerprint(s string) bool {
	b, ok := strings.CutPrefix(s, "SHA256:")
	return ok && len(b) == 43 && strings.Trim(b, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/") == ""
}

// knownHostsFiles are the files ssh reads host keys from: the user's and
// the system's.
func knownHostsFiles(h Host) []string {
	return []string{filepath.Join(h.Home, ".ssh", "known_hosts"), filepath.Join(h.Root, "etc/ssh/ssh_known_hosts")}
}

// sshAgent: the hosts the sandbox's agent signs logins for, with their
// keys from known_hosts, and the SSHSIG namespaces; refused when the
// user's agent does not answer, a host has no known key, or the sandbox
// could write the known_hosts read.
func (r *resolver) sshAgent() error {
	s := r.s
	hosts := r.namedBy(r.profile.SSHAgent, r.o.SSHAgent, "--ssh-agent")
	sign := append(slices.Clone(r.profile.SSHAgentSign), r.o.SSHAgentSign...)
	if len(hosts) == 0 && len(sign) == 0 {
		if len(r.o.SSHAgentKey) > 0 {
			return withHint(fmt.Errorf("%w: --ssh-agent-key without --ssh-agent", ErrSSHAgent), "name the host too: --ssh-agent HOST --ssh-agent-key SHA256:...")
		}
		return nil
	}
	a := &SSHAgent{Upstream: envValue(r.h.Environ, "SSH_AUTH_SOCK")}
	for _, ns := range sign {
		if !slices.Contains(SSHSignNamespaces, ns) {
			return withHint(fmt.Errorf("%w: --ssh-agent-sign %q", ErrSSHAgent, ns), "the namespace signed is git: --ssh-agent-sign git (commits signed with gpg.format=ssh)")
		}
		if !slices.Contains(a.Sign, ns) {
			a.Sign = append(a.Sign, ns)
		}
	}
	if s.Instance == nil {
		return fmt.Errorf("%w: it needs the project's instance (its home holds the sandbox's known_hosts)", ErrSSHAgent)
	}
	held, err := sshagent.Probe(a.Upstream)
	if err != nil {
		return withHint(fmt.Errorf("%w: no ssh-agent answers on the host (SSH_AUTH_SOCK=%q): %w", ErrSSHAgent, a.Upstream, err),
			"start one and add your key: eval \"$(ssh-agent)\" && ssh-add")
	}
	a.Keys = len(held)
	for _, fp := range append(slices.Clone(r.profile.SSHAgentKeys), r.o.SSHAgentKey...) {
		if !slices.Contains(held, fp) {
			return withHint(fmt.Errorf("%w: --ssh-agent-key %q: your agent holds no such key", ErrSSHAgent, fp),
				"name a key by its SHA256 fingerprint as ssh-add -l shows it, or add the key: ssh-add KEYFILE")
		}
		if !slices.Contains(a.Identities, fp) {
			a.Identities = append(a.Identities, fp)
		}
	}
	files := knownHostsFiles(r.h)
	for _, f := range files {
		real, err := filepath.EvalSymlinks(f)
		if err != nil {
			continue
		}
		if tree, ok := s.WritableTree(real); ok {
			return withHint(fmt.Errorf("%w: %s is writable in the sandbox (under %s): the host keys in it cannot be trusted", ErrSSHAgent, f, tree),
				"do not share that directory read-write with the sandbox")
		}
	}
	for _, nh := range hosts {
		name, addr, err := ParseSSHHost(nh.value)
		if err != nil {
			return err
		}
		if slices.ContainsFunc(a.Hosts, func(h SSHHost) bool { return h.Addr == addr }) {
			continue
		}
		keys, err := sshagent.KnownKeys(files, addr)
		if err != nil {
			return withHint(fmt.Errorf("%w: %w", ErrSSHAgent, err), "fix or remove the line named")
		}
		if len(keys) == 0 {
			scan := "ssh-keyscan " + name
			if h, p, _ := net.SplitHostPort(addr); p != "22" {
				scan = "ssh-keyscan -p " + p + " " + h
			}
			return withHint(fmt.Errorf("%w: --ssh-agent %s: your known_hosts (%s) has no key for %s", ErrSSHAgent, nh.value, files[0], name),
				"ssh "+name+" once on the host and check the key it shows, or add it: "+scan+" >> ~/.ssh/known_hosts (and compare the fingerprints with the ones the host publishes)")
		}
		h := SSHHost{Name: name, Addr: addr, Why: nh.why}
		for _, k := range keys {
			h.Keys = append(h.Keys, sshagent.MarshalKey(k))
			h.Fingerprints = append(h.Fingerprints, sshagent.Fingerprint(k.Marshal()))
		}
		a.Hosts = append(a.Hosts, h)
	}
	s.SSHAgent = a
	s.Env = setEnv(s.Env, "SSH_AUTH_SOCK", SSHAgentSocket)
	return nil
}
