package audit

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/claudebox/claudebox/internal/printable"
	"github.com/claudebox/claudebox/launch"
)

// Risky marks an item the user should look at twice.
const Risky = "!"

// Render writes the launch plan: project, instance, network and where the
// tier came from, auth, command, mounts grouped read-write / read-only /
// hidden, and every environment variable with secrets masked. Risky items
// (read-write outside the project, secrets passed in, the full network,
// allowed private addresses, a port published beyond the host's loopback)
// carry a "!", and so do the spec's notes,
// printed last.
func Render(w io.Writer, s *launch.Spec) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	row := func(mark, key, value, note string) {
		fmt.Fprintf(tw, "%s %s\t%s\t%s\n", pad(mark), key, printable.String(value), printable.String(note))
	}
	row("", "project", s.Project, "")
	if s.Profile != "" {
		row("", "profile", s.Profile, "")
	}
	if s.Instance != nil {
		row("", "instance", s.Instance.ID, s.Instance.Dir)
	}
	netMark, netNote := "", "from "+s.Network.Source
	switch s.Network.Tier {
	case launch.TierFull:
		netMark, netNote = Risky, netNote+"; the host's network: LAN, Tailscale, host services"
	case launch.TierInet:
		netNote += "; internet only, no LAN, no host"
	case launch.TierNone:
		netNote += "; loopback only"
	case launch.TierAllowlist:
		netNote += "; only the hosts below, by name"
	}
	row(netMark, "network", string(s.Network.Tier), netNote)
	for _, h := range s.Network.Hosts {
		row("", "allow-host", h.String(), h.Why)
	}
	if s.Network.Tier == launch.TierFull && !s.Scoped {
		row(Risky, "abstract sockets", "the host's reachable", "X11, session buses: this kernel cannot scope them (Landlock ABI 6, Linux 6.12)")
	}
	for _, a := range s.Network.Allow {
		row(Risky, "allow-net", a.String(), "private destination let through")
	}
	for _, p := range s.Publish {
		mark, value, note := publishRow(s.Network.Tier, p)
		row(mark, "publish", value, note)
	}
	if len(s.KeptGroups) > 0 {
		row(Risky, "groups", strings.Join(s.KeptGroups, ", "), "yours, kept: without newgidmap and a range in /etc/subgid they cannot be dropped")
	}
	if s.NoSeccomp {
		row(Risky, "seccomp", "off", "--seccomp=off: every syscall the kernel allows")
	}
	renderSSHAgent(row, s.SSHAgent)
	if g := s.GitCredentials; g != nil {
		for _, h := range g.Hosts {
			row(Risky, "git-credential", h.Host, h.Why+": your credential helpers' login for https://"+h.Host+" enters the sandbox when git asks")
		}
	}
	row("", "auth", authText(s.Auth), "")
	row("", "command", MaskInline(strings.Join(s.Command, " ")), "")
	row("", "workdir", s.Workdir, "")

	fmt.Fprintln(tw, "\t\t")
	first := true
	for _, m := range s.Mounts {
		if m.Mode != launch.ReadWrite {
			continue
		}
		mark, note := "", m.Why
		if m.Why != "project" && !strings.HasPrefix(m.Path, s.Project+"/") {
			mark, note = Risky, m.Why+", outside the project"
		}
		if launch.IsSecretPath(s.Home, m.Path) {
			mark, note = Risky, note+", a secret location"
		}
		if m.Unprotects {
			mark, note = Risky, note+", lifts the read-only protection of what a host tool runs there (.git/hooks, .git/config, ...)"
		}
		row(mark, label(&first, "read-write"), m.Dest(), note)
	}
	if s.Instance != nil {
		row("", label(&first, "read-write"), s.Home, "$HOME: the instance's home ("+s.Instance.HomeDir()+")")
	}
	first = true
	for _, m := range s.Mounts {
		if m.Mode == launch.ReadOnly {
			mark, note := "", m.Why
			if m.Target != "" {
				note += ", from " + m.Path
			}
			if launch.IsSecretPath(s.Home, m.Path) && m.Target != launch.HostClaudeMDPath(s.Home) {
				mark, note = Risky, note+", a secret location"
			}
			row(mark, label(&first, "read-only"), m.Dest(), note)
		}
	}
	row("", label(&first, "read-only"), "everything else on the host", "/usr, /etc, /opt, ...")
	first = true
	for _, h := range s.Hidden {
		row("", label(&first, "hidden"), h, "")
	}
	first = true
	for _, sock := range s.Sockets.Shown {
		mark, note := Risky, sock.Why+": a host service the sandbox can talk to"
		if sock.Why == "nix daemon" {
			mark, note = "", "the Nix daemon: builds as its own users"
		}
		row(mark, label(&first, "socket"), sock.Path, note)
	}
	row("", label(&first, "socket"), "every other host socket", socketsText(s))
	fmt.Fprintln(tw, "\t\t")

	first = true
	for _, kv := range s.Env {
		name, value, _ := strings.Cut(kv, "=")
		shown, masked := Mask(name, value)
		if name == "SSH_AUTH_SOCK" && s.SSHAgent != nil && value == launch.SSHAgentSocket {
			shown, masked = value, false // claudebox's proxy, shown above
		}
		mark := ""
		if masked {
			mark = Risky
		}
		row(mark, label(&first, "env"), name, shown)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, n := range s.Notes {
		if _, err := fmt.Fprintf(w, "%s note: %s\n", Risky, printable.String(n)); err != nil {
			return err
		}
	}
	return nil
}

// renderSSHAgent shows what the sandbox's agent signs with the user's
// keys: logins to each named host (its known host keys), SSHSIG
// namespaces. Both act as the user, so both are marked.
func renderSSHAgent(row func(mark, key, value, note string), a *launch.SSHAgent) {
	if a == nil {
		return
	}
	keys := a.Keys
	if len(a.Identities) > 0 {
		keys = len(a.Identities)
	}
	for _, h := range a.Hosts {
		row(Risky, "ssh-agent", h.Name, fmt.Sprintf("%s: logins signed with your agent's %d key(s), to a server holding host key %s",
			h.Why, keys, strings.Join(h.Fingerprints, " or ")))
	}
	for _, fp := range a.Identities {
		row("", "ssh-agent key", fp, "only this key is listed and used")
	}
	for _, ns := range a.Sign {
		row(Risky, "ssh-agent", "sign "+ns, "SSHSIG signatures in namespace "+ns+" (signed commits), as you")
	}
}

// publishRow is the plan's row for a published port: its URL, and a "!"
// when it listens beyond the host's loopback. In the full tier the
// sandbox's servers listen on the host themselves: nothing is published.
func publishRow(t launch.Tier, p launch.Publish) (mark, value, note string) {
	if t == launch.TierFull {
		note = "not needed in full: the sandbox's servers listen on the host's network themselves"
		if p.HostPort != p.SandboxPort {
			note += fmt.Sprintf(" (at :%d, not remapped to :%d)", p.SandboxPort, p.HostPort)
		}
		return "", p.String(), note
	}
	note = fmt.Sprintf("-> sandbox :%d, the host's loopback only", p.SandboxPort)
	switch {
	case !p.Addr.IsValid():
		note = fmt.Sprintf("-> sandbox :%d, on 127.0.0.1 and ::1 only", p.SandboxPort)
	case p.Exposed():
		mark, note = Risky, fmt.Sprintf("-> sandbox :%d, on %s: other machines (the LAN) reach it", p.SandboxPort, p.Addr)
	}
	return mark, p.URL(), note
}

// socketsText says how the host's other unix sockets are out of reach.
func socketsText(s *launch.Spec) string {
	text := fmt.Sprintf("hidden: %d found at launch", len(s.Sockets.Hidden))
	if s.Sockets.Mechanism == launch.SocketsLandlock {
		text = "denied by Landlock (resolve-unix)"
	}
	if s.Run != nil {
		text = "/run is the sandbox's own; " + text
	}
	return text
}

func pad(mark string) string {
	if mark == "" {
		return " "
	}
	return mark
}

// label shows a group's name on its first row only.
func label(first *bool, name string) string {
	if *first {
		*first = false
		return name
	}
	return ""
}

func authText(a string) string {
	switch a {
	case launch.AuthAPIKey:
		return "ANTHROPIC_API_KEY (preferred over a login)"
	case launch.AuthLogin:
		return "your Claude login (~/.claude/.credentials.json, kept in sync)"
	}
	return "not logged in (a login done inside is kept)"
}
