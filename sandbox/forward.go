package sandbox

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/claudebox/claudebox/bundle"
	"github.com/claudebox/claudebox/gitcred"
	"github.com/claudebox/claudebox/launch"
	"github.com/claudebox/claudebox/sshagent"
	"github.com/claudebox/claudebox/state"
)

// forwarders are what a launch lends the sandbox of the user's
// credentials, served by the launcher: the ssh-agent proxy (--ssh-agent)
// and the git credential server (--git-credential), and the log of their
// decisions.
type forwarders struct {
	proxy *sshagent.Proxy
	cred  *gitcred.Server
	log   *os.File
}

// lockedWriter lets the two write one log.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// startForwarders serves them on sockets in the launch directory (removed
// with it, also by the sweep after a launcher killed), logging their
// decisions to a new log of the instance, which the sandbox never sees
// (claudebox agent-log reads the newest). nil when the launch asks for
// neither.
func startForwarders(s *launch.Spec, ld *launchDir) (_ *forwarders, err error) {
	if s.SSHAgent == nil && s.GitCredentials == nil {
		return nil, nil
	}
	f := &forwarders{}
	defer func() {
		if err != nil {
			f.close()
		}
	}()
	var log io.Writer
	if s.Instance != nil {
		path, err := state.NewAgentLog(s.Instance)
		if err == nil {
			f.log, err = os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		}
		if err != nil {
			return nil, fmt.Errorf("%w: the ssh-agent and credential log: %w", ErrStart, err)
		}
		log = &lockedWriter{w: f.log}
	}
	if s.SSHAgent != nil {
		pol, err := agentPolicy(s.SSHAgent)
		if err != nil {
			return nil, fmt.Errorf("%w: ssh-agent: %w", ErrStart, err)
		}
		if f.proxy, err = sshagent.Listen(sshagent.Options{Socket: filepath.Join(ld.path, bundle.SSHAgentName),
			Upstream: s.SSHAgent.Upstream, Policy: pol, Log: log}); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrStart, err)
		}
	}
	if g := s.GitCredentials; g != nil {
		git, err := launch.HelperPath("git", "")
		if err != nil {
			return nil, fmt.Errorf("%w: --git-credential: %w", ErrStart, err)
		}
		var hosts []string
		for _, h := range g.Hosts {
			hosts = append(hosts, h.Host)
		}
		// The user's helpers, with the user's environment but git's own
		// variables (which could point it at a repository), in the launch
		// directory (no repository above it is looked for), never asking.
		env := []string{"PATH=" + g.Path, "GIT_TERMINAL_PROMPT=0", "GCM_INTERACTIVE=never", "GIT_CEILING_DIRECTORIES=" + filepath.Dir(ld.path)}
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, "GIT_") && !strings.HasPrefix(kv, "PATH=") && !strings.HasPrefix(kv, "GCM_INTERACTIVE=") {
				env = append(env, kv)
			}
		}
		if f.cred, err = gitcred.Listen(gitcred.Options{Socket: filepath.Join(ld.path, bundle.GitCredentialName),
			Hosts: hosts, Git: git, Dir: ld.path, Env: env, Log: log}); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrStart, err)
		}
	}
	return f, nil
}

// agentPolicy is the proxy's policy for a launch's agent.
func agentPolicy(a *launch.SSHAgent) (sshagent.Policy, error) {
	pol := sshagent.Policy{Namespaces: a.Sign, Identities: a.Identities}
	for _, h := range a.Hosts {
		host := sshagent.Host{Name: h.Name}
		for _, k := range h.Keys {
			key, err := sshagent.ParseKey(k)
			if err != nil {
				return pol, fmt.Errorf("host key of %s: %w", h.Name, err)
			}
			host.Keys = append(host.Keys, key)
		}
		pol.Hosts = append(pol.Hosts, host)
	}
	return pol, nil
}

// close stops them and closes the log; summary says what the agent signed
// and refused.
func (f *forwarders) close() (summary string) {
	if f == nil {
		return ""
	}
	if f.proxy != nil {
		f.proxy.Close()
		summary = f.proxy.Summary()
	}
	f.cred.Close()
	if f.log != nil {
		f.log.Close()
	}
	return summary
}
