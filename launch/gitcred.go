package launch

import (
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strings"

	"github.com/claudebox/claudebox/internal/registry"
)

// GitCredentialSocket is where git's credential helper inside the sandbox
// (the claudebox binary, registry.GitCredential) reaches the launcher.
const GitCredentialSocket = "/.claudebox/git-credential.sock"

// LauncherInside is where the claudebox binary appears inside the
// sandbox, read-only.
const LauncherInside = "/.claudebox/claudebox"

// GitCredentials are the hosts whose HTTPS logins the host's own git
// credential helpers lend the sandbox (--git-credential; package gitcred
// serves them). The login enters the sandbox.
type GitCredentials struct {
	Hosts []GitCredentialHost `json:"hosts"`
	// Path is the PATH the host's helpers run with: the user's, without
	// the directories the sandbox can write.
	Path string `json:"path"`
}

// GitCredentialHost is one host, as git names it: HOST, or HOST:PORT off
// 443.
type GitCredentialHost struct {
	Host string `json:"host"`
	// Why says who named it: "--git-credential", "profile NAME".
	Why string `json:"why"`
}

// ParseGitHost reads HOST or HOST:PORT for --git-credential and returns
// the host as git's credential requests name it.
func ParseGitHost(s string) (string, error) {
	host, port, err := parseHostPort(s, "443")
	if err != nil {
		return "", withHint(fmt.Errorf("%w: --git-credential %q", ErrBadGitCredential, s),
			"give the host of the HTTPS remote, HOST or HOST:PORT, e.g. --git-credential github.com")
	}
	if port != "443" {
		return net.JoinHostPort(host, port), nil
	}
	return host, nil
}

// gitCredentials: the hosts the sandbox's git gets the host's logins
// for, and git's configuration inside that asks the launcher.
func (r *resolver) gitCredentials() error {
	s := r.s
	hosts := r.namedBy(r.profile.GitCredentials, r.o.GitCredential, "--git-credential")
	if len(hosts) == 0 {
		return nil
	}
	g := &GitCredentials{}
	for _, h := range hosts {
		host, err := ParseGitHost(h.value)
		if err != nil {
			return err
		}
		if !slices.ContainsFunc(g.Hosts, func(o GitCredentialHost) bool { return o.Host == host }) {
			g.Hosts = append(g.Hosts, GitCredentialHost{Host: host, Why: h.why})
		}
	}
	// The helpers are the user's programs, found on the user's PATH, but
	// never in a directory the sandbox can write.
	var path []string
	for _, d := range filepath.SplitList(envValue(r.h.Environ, "PATH")) {
		real, err := filepath.EvalSymlinks(d)
		if !filepath.IsAbs(d) || err != nil {
			continue
		}
		if _, writable := s.WritableTree(real); !writable {
			path = append(path, d)
		}
	}
	g.Path = strings.Join(path, ":")
	s.GitCredentials = g
	// git inside asks the launcher (after any helper the sandbox's own
	// config names): command-line level configuration, from the
	// environment.
	for k, v := range map[string]string{
		"GIT_CONFIG_COUNT":   "1",
		"GIT_CONFIG_KEY_0":   "credential.helper",
		"GIT_CONFIG_VALUE_0": LauncherInside + " " + registry.GitCredential + " " + GitCredentialSocket,
	} {
		s.Env = setEnv(s.Env, k, v)
	}
	return nil
}
