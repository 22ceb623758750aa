package state

import (
	"fmt"
	"strings"

	"github.com/claudebox/claudebox/launch"
	"github.com/claudebox/claudebox/sshagent"
)

// KnownHostsFile is the sandbox's known_hosts: with --ssh-agent,
// claudebox writes the named hosts' keys there at each launch.
const KnownHostsFile = ".ssh/known_hosts"

// maxKnownHosts caps the sandbox's known_hosts, read before it is
// replaced: a larger one is moved aside.
const maxKnownHosts = 1 << 20

// writeKnownHosts replaces the sandbox's known_hosts with the keys the
// user's known_hosts lists for the hosts a's agent signs logins for, so
// that ssh inside knows them and asks nothing. Whatever the sandbox wrote
// there before goes: only these hosts are reachable by the agent anyway.
func (h *Home) writeKnownHosts(a *launch.SSHAgent) error {
	if err := h.note(h.dir.Repair(".ssh", true, 0o700)); err != nil {
		return err
	}
	var b strings.Builder
	b.WriteString("# claudebox writes this file at each launch with --ssh-agent: the keys your\n# own known_hosts lists for the hosts named. Edits here are lost.\n")
	for _, host := range a.Hosts {
		for _, k := range host.Keys {
			key, err := sshagent.ParseKey(k)
			if err != nil {
				return fmt.Errorf("host key of %s: %w", host.Name, err)
			}
			b.WriteString(sshagent.KnownHostsLine(host.Addr, key) + "\n")
		}
	}
	return h.Update(KnownHostsFile, maxKnownHosts, func([]byte) []byte { return []byte(b.String()) })
}
