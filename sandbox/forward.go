package sandbox

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/claudebox/claudebox/bundle"
	"github.com/claudebox/claudebox/launch"
	"github.com/claudebox/claudebox/sshagent"
	"github.com/claudebox/claudebox/state"
)

// agentProxy is a launch's ssh-agent proxy (--ssh-agent) and its log.
type agentProxy struct {
	proxy *sshagent.Proxy
	log   *os.File
}

// startAgent serves the sandbox's ssh-agent on a socket in the launch
// directory (removed with it, also by the sweep after a launcher killed),
// logging its decisions to a new log of the instance, which the sandbox
// never sees (claudebox agent-log reads the newest). nil without
// --ssh-agent.
func startAgent(s *launch.Spec, ld *launchDir) (*agentProxy, error) {
	if s.SSHAgent == nil {
		return nil, nil
	}
	pol, err := agentPolicy(s.SSHAgent)
	if err != nil {
		return nil, fmt.Errorf("%w: ssh-agent: %w", ErrStart, err)
	}
	a := &agentProxy{}
	var log io.Writer
	if s.Instance != nil {
		path, err := state.NewAgentLog(s.Instance)
		if err == nil {
			a.log, err = os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		}
		if err != nil {
			return nil, fmt.Errorf("%w: the ssh-agent log: %w", ErrStart, err)
		}
		log = a.log
	}
	a.proxy, err = sshagent.Listen(sshagent.Options{Socket: filepath.Join(ld.path, bundle.SSHAgentName),
		Upstream: s.SSHAgent.Upstream, Policy: pol, Log: log})
	if err != nil {
		a.close()
		return nil, fmt.Errorf("%w: %w", ErrStart, err)
	}
	return a, nil
}

// agentPolicy is the proxy's policy for a launch's agent.
func agentPolicy(a *launch.SSHAgent) (sshagent.Policy, error) {
	pol := sshagent.Policy{Namespaces: a.Sign}
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

// close stops the proxy and closes its log; summary says what it signed
// and refused.
func (a *agentProxy) close() (summary string) {
	if a == nil {
		return ""
	}
	if a.proxy != nil {
		a.proxy.Close()
		summary = a.proxy.Summary()
	}
	if a.log != nil {
		a.log.Close()
	}
	return summary
}
