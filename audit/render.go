package audit

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/claudebox/claudebox/launch"
)

// Risky marks an item the user should look at twice.
const Risky = "!"

// Render writes the launch plan: project, instance, network and where the
// tier came from, auth, command, mounts grouped read-write / read-only /
// hidden, and every environment variable with secrets masked. Risky items
// (read-write outside the project, secrets passed in, the full network,
// allowed private addresses) carry a "!", and so do the spec's notes,
// printed last.
func Render(w io.Writer, s *launch.Spec) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	row := func(mark, key, value, note string) {
		fmt.Fprintf(tw, "%s %s\t%s\t%s\n", pad(mark), key, value, note)
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
	if len(s.KeptGroups) > 0 {
		row(Risky, "groups", strings.Join(s.KeptGroups, ", "), "yours, kept: without newgidmap and a range in /etc/subgid they cannot be dropped")
	}
	if s.NoSeccomp {
		row(Risky, "seccomp", "off", "--seccomp=off: every syscall the kernel allows")
	}
	row("", "auth", authText(s.Auth), "")
	row("", "command", MaskInline(strings.Join(s.Command, " ")), "")
	row("", "workdir", s.Workdir, "")

	fmt.Fprintln(tw, "\t\t")
	first := true
	for _, m := range s.Mounts {
		if m.Mode != launch.ReadWrite || m.Pin {
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
		if m.Mode == launch.ReadOnly && !m.Pin {
			mark, note := "", m.Why
			if m.Target != "" {
				note += ", from " + m.Path
			}
			if m.Placeholder != nil {
				note += "; missing: made at launch, neutral"
			}
			if launch.IsSecretPath(s.Home, m.Path) && m.Target != launch.HostClaudeMDPath(s.Home) {
				mark, note = Risky, note+", a secret location"
			}
			row(mark, label(&first, "read-only"), m.Dest(), note)
		}
	}
	row("", label(&first, "read-only"), "everything else on the host", "/usr, /etc, /opt, ...")
	if pins := pinned(s); pins != "" {
		row("", "pinned", pins, "mount points: cannot be renamed or removed inside, so what is read-only in them stays put")
	}
	first = true
	for _, h := range s.Hidden {
		row("", label(&first, "hidden"), h, "")
	}
	fmt.Fprintln(tw, "\t\t")

	first = true
	for _, kv := range s.Env {
		name, value, _ := strings.Cut(kv, "=")
		shown, masked := Mask(name, value)
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
		if _, err := fmt.Fprintf(w, "%s note: %s\n", Risky, n); err != nil {
			return err
		}
	}
	return nil
}

// pinned lists the pins (Mount.Pin) on one line, relative to the
// project where they are in it.
func pinned(s *launch.Spec) string {
	var out []string
	for _, m := range s.Mounts {
		if m.Pin {
			p := m.Dest()
			if rel, ok := strings.CutPrefix(p, s.Project+"/"); ok {
				p = rel
			}
			out = append(out, p)
		}
	}
	return strings.Join(out, " ")
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
