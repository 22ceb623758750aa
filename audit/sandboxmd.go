package audit

import (
	"bytes"
	"fmt"
	"slices"
	"strings"

	"github.com/claudebox/claudebox/launch"
)

// SandboxMD is the name of the generated file in the sandbox's ~/.claude.
const SandboxMD = "SANDBOX.md"

// ImportLine is the line of the sandbox's ~/.claude/CLAUDE.md that imports
// SANDBOX.md.
const ImportLine = "@" + SandboxMD

// HostImportLine imports the user's own global instructions, which
// claudebox shows read-only beside it.
const HostImportLine = "@" + launch.HostClaudeMDName

// RenderSandboxMD tells Claude, plainly, what its sandbox allows.
func RenderSandboxMD(s *launch.Spec) []byte {
	var b bytes.Buffer
	p := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }
	p("# You are running in a claudebox sandbox")
	p("")
	p("claudebox generated this file for this session; edits to it are overwritten.")
	p("")
	p("## Files")
	p("- Writable: the project, `%s`. Changes there are real and stay.", s.Project)
	for _, m := range s.Mounts {
		if m.Mode == launch.ReadWrite && m.Path != s.Project && !m.Pin {
			p("- Also writable: `%s` (%s).", m.Dest(), m.Why)
		}
	}
	if s.Instance != nil {
		p("- `$HOME` (`%s`) is this project's own home: it keeps Claude's state for this project and what tools write there, nothing of the user's real home.", s.Home)
	}
	p("- Read-only: the rest of the host (`/usr`, `/etc`, `/opt`, ...). Installing system packages or editing system files is not possible.")
	protected := false
	for _, m := range s.Mounts {
		if m.Mode == launch.ReadOnly && !m.Pin {
			p("- Also read-only: `%s` (%s).", m.Dest(), m.Why)
			protected = protected || m.Protected
		}
	}
	if protected {
		p("- Why some project files are read-only: the user's own tools run them on the host, outside this sandbox, without asking: git runs `.git/hooks`, the hooks directory `core.hooksPath` names (husky's `.husky/`) and what `.git/config` names at every `git status`; `commondir`, `gitdir`, `.git` files and `objects/info/alternates` tell git where that config is; hook frameworks run what `.pre-commit-config.yaml` or `lefthook.yml` name; Claude Code loads `.claude/settings.json` and `.mcp.json`. Writing them fails with \"Read-only file system\" (EROFS), or \"Device or resource busy\" (EBUSY) for a file replaced by rename, as `git config` does. So `git config`, `git remote add`, `git branch -m`, recording an upstream (`push -u`), `git submodule add`, `git submodule update` (they write the submodule's config) and changes to the hooks fail here; commit, branch, checkout, merge, stash, fetch, pull, push and gc work (gc's \"unable to update .git/info/refs\" is harmless). `.claude/settings.local.json` stays writable.")
	}
	if pins := pinnedList(s); pins != "" {
		p("- Pinned: %s. Each is a mount point here, so that what is read-only in it stays where the host's tools look: renaming, moving or removing it (`mv`, `rmdir`, `rm -r`, `git worktree remove`) fails with \"Device or resource busy\" (EBUSY), and `rename(2)` of a file into or out of it with \"Invalid cross-device link\" (EXDEV; `mv` copies instead). Files inside stay writable.", pins)
	}
	if protected || pinnedList(s) != "" {
		p("- Do not work around any of this (renaming, copying the repository elsewhere, another git directory, a different hooks path): it is there so that nothing you leave runs on the host unseen. Tell the user what needs changing: they can make the change on the host, or relaunch with `claudebox --rw PATH`, which lifts the protection of that one path.")
	}
	if s.Setup != nil && len(s.Setup.Parts)+len(s.Setup.Hooks) > 0 {
		p("- The user's own Claude Code setup (commands, agents, skills, plugins, ... of `~/.claude`) is theirs, shown read-only and current at every launch: changes to it are made on the host. `~/.claude/settings.json` here starts from the user's settings at each launch; what you change in it stays for this project.")
	}
	p("- `/tmp` is private to this sandbox and lost when it exits; so is anything written outside the project and `$HOME`.")
	if s.Instance != nil {
		p("- Held at the end of this session: what you create or change in the project that a tool on the user's host would run without asking. That is git config and hooks in any git directory (nested repositories included; a plain `git init`, commits, branches and clones pass), Claude Code's `.claude/settings.json` and `.claude/settings.local.json` (hooks, statusLine, env, helpers, MCP switches; permission rules pass), `.mcp.json`, and `.vscode`/`.idea` run configurations. Such a file is put back as it was, and your version is kept beside it as `NAME.claudebox-held` until the user accepts it (`claudebox review` shows it, `claudebox accept PATH` applies it). If your work needs such a change, make it, and tell the user it will be held and how to accept it.")
	}
	if len(s.Hidden) > 0 {
		p("- Hidden (they appear empty): %s. The user's secrets (SSH keys, cloud credentials, tokens) are not available; do not look for them.", codeList(s.Hidden))
	}
	p("")
	p("## Network: %s", s.Network.Tier)
	switch s.Network.Tier {
	case launch.TierNone:
		p("No network: only loopback. DNS lookups and every connection fail at once; package downloads, git fetch/push and web requests will not work.")
	case launch.TierInet:
		p("The internet is reachable over TCP (DNS works), but not the user's LAN, private or Tailscale addresses (10/8, 172.16/12, 192.168/16, 100.64/10), cloud metadata (169.254/16), the host's own services, or IPv6. Connections to them fail at once (\"connection refused\" or \"no route to host\"); UDP other than DNS, and ICMP (ping), do not leave the sandbox. This is intended, do not try to work around it.")
		for _, a := range s.Network.Allow {
			p("- Allowed anyway: `%s`.", a)
		}
	case launch.TierAllowlist:
		p("Only these hosts are reachable, by name, on these TCP ports:")
		for _, h := range s.Network.Hosts {
			p("- `%s` (%s)", h.String(), h.Why)
		}
		p("Any other name does not resolve (NXDOMAIN), and a connection to another name, an IP address, another port, or over UDP is refused at once. A connection must name its host: TLS by its server name (SNI), plain HTTP by its Host header, the same host for every request on a connection; other protocols (ssh) go through only on a port marked `/nameless` above. This is intended; do not try to work around it. Tools need no proxy settings. If you need another host, ask the user to relaunch with `claudebox --network allowlist --allow-host NAME` (or `--allow-host NAME:PORT`, or `--allow-host NAME:22/nameless` for ssh).")
	case launch.TierFull:
		p("The host's full network, as the user has it.")
		if s.Scoped {
			p("The host's abstract unix sockets (X11, session buses, tool daemons) are not reachable; abstract sockets you make yourself work.")
		} else {
			p("The host's abstract unix sockets (X11, session buses) are reachable: this kernel cannot scope them. Do not use them.")
		}
	}
	if a := s.SSHAgent; a != nil {
		p("")
		p("## SSH")
		p("`SSH_AUTH_SOCK` (`%s`) is an ssh-agent that uses the user's keys without showing them: the keys are not in this sandbox.", launch.SSHAgentSocket)
		if len(a.Hosts) > 0 {
			var names []string
			for _, h := range a.Hosts {
				names = append(names, h.Name)
			}
			p("It signs ssh logins to %s only; `~/.ssh/known_hosts` holds their host keys (rewritten at each launch). `git push` and `git fetch` over ssh to them work. A login to any other host is refused by the agent (\"agent refused operation\"); do not try to work around it, ask the user to relaunch with `claudebox --ssh-agent HOST`.", codeList(names))
		}
		if slices.Contains(a.Sign, "git") {
			p("It also signs git commits and tags (SSHSIG, namespace `git`); `.git/config` may be read-only, so pass the settings per command: `git -c gpg.format=ssh -c user.signingkey=\"key::$(ssh-add -L | head -n1)\" commit -S ...`.")
		}
	}
	if g := s.GitCredentials; g != nil {
		var names []string
		for _, h := range g.Hosts {
			names = append(names, "https://"+h.Host)
		}
		p("")
		p("## Git over HTTPS")
		p("git's credential helper asks the user's own credential helpers for %s only, so `git push` and `git fetch` there need no token from you. Other hosts get no login from it; ask the user to relaunch with `claudebox --git-credential HOST` if you need one.", codeList(names))
	}
	if len(s.Publish) > 0 && s.Network.Tier == launch.TierFull {
		p("")
		p("A server you start listens on the host's own network: the user's browser reaches port N at http://localhost:N.")
	}
	if len(s.Publish) > 0 && s.Network.Tier != launch.TierFull {
		p("")
		p("Published ports: the user's browser on the host reaches a server you run on these ports (bind it to 127.0.0.1, 0.0.0.0, :: or ::1; any works). When you start one, tell the user the host URL:")
		for _, pub := range s.Publish {
			p("- port %d here is %s on the host.", pub.SandboxPort, pub.URL())
		}
		p("No other port is reachable from the host. If the user needs another, ask them to relaunch with `claudebox --publish HOST_PORT[:SANDBOX_PORT]`.")
	}
	p("")
	p("## Host services")
	p("The host's own services (databases, Docker, D-Bus, ssh-agent, screen or tmux sessions, name caches) are not reachable through their unix sockets, in any network tier: `/run` is this sandbox's own, and the host's sockets elsewhere are %s. Connecting to one fails (\"No such file or directory\" or \"Connection refused\"). Sockets you create yourself (in the project, `$HOME`, `/tmp`, `$XDG_RUNTIME_DIR`) work.", socketsWord(s))
	if len(s.Sockets.Shown) > 0 {
		p("The user shows these on purpose:")
		for _, sock := range s.Sockets.Shown {
			p("- `%s` (%s)", sock.Path, sock.Why)
		}
	}
	p("If the task needs a host service, ask the user to relaunch with `claudebox --socket PATH` (e.g. `--socket /run/postgresql`).")
	p("")
	p("## Environment")
	p("The environment is cleared but for a short allowlist; tokens such as GITHUB_TOKEN or AWS keys are not present unless the user passed them.")
	p("")
	p("## When you need more")
	p("Ask the user to relaunch with what is missing, for example:")
	p("- `claudebox --network inet` for internet access;")
	p("- `claudebox --rw PATH` (or `--ro PATH`) to share another directory;")
	p("- `claudebox --env NAME` to pass an environment variable;")
	p("- `claudebox --mcp NAME` to bring one of the user's MCP servers (only those named come in%s);", mcpNamed(s))
	p("- a profile in `~/.claudebox/profiles/` that packages these.")
	return b.Bytes()
}

// mcpNamed says which MCP servers of the user's came in, for SANDBOX.md.
func mcpNamed(s *launch.Spec) string {
	if names := s.Setup.MCPNames(); len(names) > 0 {
		return "; here: " + codeList(names)
	}
	return "; here: none"
}

func socketsWord(s *launch.Spec) string {
	if s.Sockets.Mechanism == launch.SocketsLandlock {
		return "denied by the kernel (Landlock)"
	}
	return "hidden"
}

// pinnedList lists the pins (launch.Mount.Pin) for SANDBOX.md.
func pinnedList(s *launch.Spec) string {
	var out []string
	for _, m := range s.Mounts {
		if m.Pin {
			out = append(out, m.Dest())
		}
	}
	return codeList(out)
}

func codeList(paths []string) string {
	q := make([]string, len(paths))
	for i, p := range paths {
		q[i] = "`" + p + "`"
	}
	return strings.Join(q, ", ")
}

// EnsureImports returns the sandbox's ~/.claude/CLAUDE.md with exactly one
// line importing SANDBOX.md, and, when host is true, exactly one importing
// the user's own instructions; everything else the user wrote is kept, in
// order.
func EnsureImports(existing []byte, host bool) []byte {
	var kept []string
	for _, line := range strings.Split(string(existing), "\n") {
		switch strings.TrimSpace(line) {
		case ImportLine, HostImportLine:
			continue
		}
		kept = append(kept, line)
	}
	body := strings.TrimRight(strings.Join(kept, "\n"), "\n")
	head := ImportLine + "\n"
	if host {
		head += HostImportLine + "\n"
	}
	if strings.TrimSpace(body) == "" {
		return []byte(head)
	}
	return []byte(head + "\n" + strings.TrimLeft(body, "\n") + "\n")
}
