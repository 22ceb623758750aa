// Package launch turns what the user asked for (flags, environment, host
// facts) into a Spec: the single, fully resolved description of one sandbox
// launch. The bundle, the dry run and the audit are all rendered from a Spec,
// so what the user is shown is exactly what runs.
//
// The package only reads the host (paths, environment); it never changes it.
package launch

// Mode says how a host path appears inside the sandbox.
type Mode string

const (
	// ReadOnly mounts the path read-only, recursively (rro).
	ReadOnly Mode = "ro"
	// ReadWrite mounts the path read-write.
	ReadWrite Mode = "rw"
)

// Mount is a host path shown inside the sandbox, at the same path unless
// Target says otherwise.
type Mount struct {
	// Path is the host path, canonical (absolute, symlinks resolved).
	Path string `json:"path"`
	// Target is where it appears inside; "" means at Path.
	Target string `json:"target,omitempty"`
	Mode   Mode   `json:"mode"`
	// Why is a short reason shown to the user ("project", "--ro", "claude").
	Why string `json:"why"`
	// Protected marks a path a host tool executes or loads without asking
	// (.git/hooks, .git/config, ...), shown read-only so the sandbox cannot
	// plant it. A missing protected directory is made, empty, at launch.
	Protected bool `json:"protected,omitempty"`
	// Unprotects marks a read-write mount the user asked for that covers a
	// protected path: the sandbox can plant what the host runs there.
	Unprotects bool `json:"unprotects,omitempty"`
}

// Dest is where the mount appears inside the sandbox.
func (m Mount) Dest() string {
	if m.Target != "" {
		return m.Target
	}
	return m.Path
}

// TopEntry is one entry of the host's root directory.
type TopEntry struct {
	Name string `json:"name"`
	// Link is the symlink target when the entry is a symlink (e.g. bin ->
	// usr/bin); empty for a directory.
	Link string `json:"link,omitempty"`
}

// Spec is one launch, fully resolved. The zero value is not useful; build
// one with Resolve.
type Spec struct {
	// Project is the canonical project root, mounted read-write at its path.
	Project string `json:"project"`
	// Workdir is where the command starts: the current directory when it is
	// inside the project, else the project root.
	Workdir string `json:"workdir"`
	// Command is the argv run inside the sandbox.
	Command []string `json:"command"`
	// Env is the complete environment of the command, sorted by name.
	Env []string `json:"env"`
	// Mounts are the host paths shown besides the read-only host top-level
	// directories, the project included, sorted so parents come first.
	Mounts []Mount `json:"mounts"`
	// Hidden are paths replaced by an empty read-only directory or file.
	Hidden []string `json:"hidden"`
	// UID and GID are the invoking user's ids, which the command also has
	// inside the sandbox.
	UID int `json:"uid"`
	GID int `json:"gid"`
	// Home is $HOME, canonical. Inside it shows the instance's home, or
	// without an instance a private, empty tmpfs; and what is mounted under
	// it.
	Home string `json:"home"`
	// Instance is the project's Claude state; nil for none.
	Instance *Instance `json:"instance,omitempty"`
	// Auth says how Claude will authenticate: AuthAPIKey, AuthLogin or
	// AuthNone.
	Auth string `json:"auth"`
	// Scratch are private, empty, writable tmpfs directories: /tmp, and
	// /var/tmp when the host has it.
	Scratch []string `json:"scratch"`
	// HostRoot lists the host's top-level directories (bound read-only) and
	// symlinks (recreated) to build the sandbox root from. proc, sys, dev
	// and tmp are never in it: the sandbox gets its own.
	HostRoot []TopEntry `json:"hostRoot"`
	// Network is the network tier and what it allows.
	Network Network `json:"network"`
	// Scoped confines the sandbox to a Landlock domain scoping abstract
	// unix sockets and signals (Linux 6.12): the host's abstract sockets,
	// which the full tier's network namespace shares, are out of reach.
	// False when the kernel cannot.
	Scoped bool `json:"scoped"`
	// SubGID, when not 0, is one of the user's subordinate gids
	// (/etc/subgid), mapped into the sandbox's user namespace by the
	// setuid newgidmap so that setgroups is allowed there: pid1 then drops
	// the user's supplementary groups before the command starts.
	SubGID int `json:"subgid,omitempty"`
	// KeptGroups name the supplementary groups the command keeps, for want
	// of newgidmap or a subgid range (rootless runc cannot drop them).
	KeptGroups []string `json:"keptGroups,omitempty"`
	// NoSeccomp turns the seccomp filter off (--seccomp=off): risky.
	NoSeccomp bool `json:"noSeccomp,omitempty"`
	// Profile names the profile applied, "" for none.
	Profile string `json:"profile,omitempty"`
	// TTY is true when the command gets its own pseudo-terminal.
	TTY bool `json:"tty"`
	// Run is the sandbox's /run: an empty tmpfs with a few host entries
	// back; nil when the host has no /run directory.
	Run *RunView `json:"run,omitempty"`
	// Sockets says which host unix sockets the sandbox can reach: none but
	// those shown on purpose.
	Sockets Sockets `json:"sockets"`
	// Notes are what the user should know about how the launch was
	// resolved (a project's .git naming a worktree that git's back-link
	// does not confirm); shown with the plan.
	Notes []string `json:"notes,omitempty"`
	// SSHAgent is the agent the sandbox gets (SSH_AUTH_SOCK inside), which
	// signs logins to the named hosts only; nil for none.
	SSHAgent *SSHAgent `json:"sshAgent,omitempty"`
	// GitCredentials lends the sandbox's git the host's HTTPS logins for
	// the named hosts (--git-credential); nil for none.
	GitCredentials *GitCredentials `json:"gitCredentials,omitempty"`
	// Publish are the sandbox ports the launcher makes reachable on the
	// host (--publish and the profile's); in the full tier they need
	// nothing (the sandbox shares the host's network) and only the plan
	// shows them.
	Publish []Publish `json:"publish,omitempty"`
}

// Profile is a named set of environment entries, mounts and a network tier
// (~/.claudebox/profiles/NAME.json), already checked and with paths
// expanded; package profile loads it.
type Profile struct {
	Name        string   `json:"name"`
	Description string   `json:"description,omitempty"`
	Env         []string `json:"env,omitempty"`
	Mounts      []Mount  `json:"mounts,omitempty"`
	Hide        []string `json:"hide,omitempty"`
	Network     Tier     `json:"network,omitempty"`
	AllowNet    []string `json:"allowNet,omitempty"`
	AllowHosts  []string `json:"allowHosts,omitempty"`
	Sockets     []string `json:"sockets,omitempty"`
	Publish     []string `json:"publish,omitempty"`
	Extends     []string `json:"extends,omitempty"` // the chain it inherited from, nearest first
	// SSHAgent, SSHAgentSign and SSHAgentKeys are as --ssh-agent,
	// --ssh-agent-sign and --ssh-agent-key.
	SSHAgent     []string `json:"sshAgent,omitempty"`
	SSHAgentSign []string `json:"sshAgentSign,omitempty"`
	SSHAgentKeys []string `json:"sshAgentKeys,omitempty"`
	// GitCredentials is as --git-credential.
	GitCredentials []string `json:"gitCredentials,omitempty"`
}

// Writable lists the host trees the sandbox can write: the instance home
// and every read-write mount (the project, a worktree's git directory,
// --rw). Everything in them is hostile input to claudebox's code outside
// the sandbox.
func (s *Spec) Writable() []string {
	var out []string
	if s.Instance != nil {
		out = append(out, s.Instance.HomeDir())
	}
	for _, m := range s.Mounts {
		if m.Mode == ReadWrite {
			out = append(out, m.Path)
		}
	}
	return out
}

// WritableTree returns the tree of Writable that holds p, a canonical
// path, if any.
func (s *Spec) WritableTree(p string) (string, bool) {
	for _, w := range s.Writable() {
		if Within(p, w) {
			return w, true
		}
	}
	return "", false
}
