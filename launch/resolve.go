package launch

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
)

// Options is what the user asked for, before resolution.
type Options struct {
	// Project is the project root; "" means the git top level of the
	// current directory, else the current directory.
	Project string
	// Command is the argv to run. Empty means run claude.
	Command []string
	// ClaudeArgs are appended when Command is empty.
	ClaudeArgs []string
	// Env holds --env entries: NAME or NAME=VALUE.
	Env []string
	// RO, RW and Hide are extra paths, relative to the current directory
	// unless absolute.
	RO, RW, Hide []string
	// TTY gives the command its own pseudo-terminal; the CLI sets it when
	// stdin and stdout are both terminals.
	TTY bool
	// Network is the --network flag ("" when not given); AllowNet holds
	// --allow-net entries, AllowHost --allow-host ones.
	Network   string
	AllowNet  []string
	AllowHost []string
	// Sockets holds --socket entries: host unix sockets, or directories
	// of them, shown on purpose.
	Sockets []string
	// NoSeccomp turns the seccomp filter off.
	NoSeccomp bool
	// Profile is applied under the flags: its env and mounts come first,
	// its tier below --network and CLAUDEBOX_NETWORK. nil for none.
	Profile *Profile
	// Publish holds --publish entries: [HOST_ADDR:]HOST_PORT[:SANDBOX_PORT].
	Publish []string
	// StateDir is claudebox's state directory (~/.claudebox); it holds the
	// per-project instances. "" launches without an instance.
	StateDir string
	// MCP names user-scope MCP servers of the host's ~/.claude.json to
	// carry into the instance (--mcp); the profile's come first.
	MCP []string
	// SSHAgent are the hosts (HOST or HOST:PORT) whose logins the
	// sandbox's agent signs (--ssh-agent); SSHAgentSign the SSHSIG
	// namespaces it signs in (--ssh-agent-sign).
	SSHAgent     []string
	SSHAgentSign []string
	// SSHAgentKey are the fingerprints of the only keys it lists and uses
	// (--ssh-agent-key); all when empty.
	SSHAgentKey []string
	// GitCredential are the hosts (HOST or HOST:PORT) whose HTTPS logins
	// the host's credential helpers lend the sandbox's git.
	GitCredential []string
}

// Resolve checks the options against the host and returns the launch Spec.
// Every error names the offending flag or path and carries a hint. It goes
// step by step, each a method of resolver: where the launch runs (project,
// working directory, home) and what the host lends it (ids, groups, the
// kernel's scope), then the network, the environment and login, the host
// root, the project's git and instance, the mounts the user asked for and
// what stays protected, the command, what it finds under the home (tools,
// the user's instructions), what is hidden, and last the ssh-agent and
// git's credentials.
func Resolve(o Options, h Host) (*Spec, error) {
	r, err := newResolver(o, h)
	if err != nil {
		return nil, err
	}
	for _, step := range []func() error{
		r.network,
		r.publish,
		r.environment,
		r.hostRoot,
		r.git,
		r.userMounts,
		r.command,
		r.homeMounts,
		r.hidden,
		r.sockets,
		r.sshAgent,
		r.gitCredentials,
	} {
		if err := step(); err != nil {
			return nil, err
		}
	}
	return r.s, nil
}

// resolver is one Resolve under way.
type resolver struct {
	o       Options
	h       Host
	profile *Profile // o.Profile, or an empty one
	cwd     string   // canonical
	common  string   // a linked worktree's shared git directory
	hide    []string // --hide and the profile's, canonical
	s       *Spec
}

// newResolver settles where the launch runs: the canonical current
// directory and home, the project and the working directory; and what the
// host lends it.
func newResolver(o Options, h Host) (*resolver, error) {
	if h.Root == "" {
		h.Root = "/"
	}
	cwd, err := filepath.EvalSymlinks(h.Cwd)
	if err != nil {
		return nil, fmt.Errorf("current directory: %w", err)
	}
	if !filepath.IsAbs(h.Home) {
		return nil, withHint(fmt.Errorf("%w: HOME %q is not absolute", ErrBadPath, h.Home), "set HOME to an absolute path")
	}
	// Compare and mount the canonical home; $HOME keeps the user's spelling.
	home := h.canonicalHome()
	project, err := resolveProject(o.Project, cwd, home)
	if err != nil {
		return nil, err
	}
	r := &resolver{o: o, h: h, profile: o.Profile, cwd: cwd}
	if r.profile == nil {
		r.profile = &Profile{}
	}
	r.s = &Spec{
		NoSeccomp: o.NoSeccomp,
		Project:   project,
		Workdir:   project,
		UID:       h.UID,
		GID:       h.GID,
		Home:      home,
		TTY:       o.TTY,
		Scoped:    h.LandlockABI >= ScopeABI,
		Profile:   r.profile.Name,
	}
	if Within(cwd, project) {
		r.s.Workdir = cwd
	}
	ResolveGroups(r.s, h)
	return r, nil
}

// network: the tier, from the flag, the environment or the profile.
func (r *resolver) network() (err error) {
	r.s.Network, err = resolveNetwork(r.o.Network, r.h.Environ, r.profile, append(slices.Clone(r.profile.AllowNet), r.o.AllowNet...),
		append(slices.Clone(r.profile.AllowHosts), r.o.AllowHost...))
	return err
}

// publish: the sandbox ports published on the host, the profile's first.
func (r *resolver) publish() (err error) {
	r.s.Publish, err = resolvePublish(append(slices.Clone(r.profile.Publish), r.o.Publish...))
	return err
}

// environment: the allowlist, the profile's and --env; and so how Claude
// will log in.
func (r *resolver) environment() (err error) {
	if r.s.Env, err = buildEnv(r.h.Environ, append(slices.Clone(r.profile.Env), r.o.Env...), filepath.Clean(r.h.Home)); err != nil {
		return err
	}
	r.s.Auth = authOf(r.s.Env, r.s.Home)
	return nil
}

// hostRoot: the host's top-level entries the sandbox's root is built
// from, and the private scratch directories.
func (r *resolver) hostRoot() (err error) {
	if r.s.HostRoot, err = readHostRoot(r.h.Root); err != nil {
		return err
	}
	if r.s.Run = resolveRun(r.h.Root, r.s.UID); r.s.Run != nil {
		r.s.Env = setEnv(r.s.Env, "XDG_RUNTIME_DIR", r.s.Run.RuntimeDir)
	}
	r.s.Scratch = []string{"/tmp"}
	if fi, err := os.Stat(filepath.Join(r.h.Root, "var/tmp")); err == nil && fi.IsDir() {
		r.s.Scratch = append(r.s.Scratch, "/var/tmp")
	}
	return nil
}

// git: the project, read-write; a linked worktree's shared git directory
// (when git's back-link confirms it) and its main worktree's instance.
func (r *resolver) git() error {
	s := r.s
	s.Mounts = []Mount{{Path: s.Project, Mode: ReadWrite, Why: "project"}}
	root := s.Project
	switch main, common, err := gitWorktree(s.Project); {
	case err == nil:
		// A linked worktree shares its main worktree's instance, and git
		// inside needs the shared git directory.
		root, r.common = main, common
		s.Mounts = append(s.Mounts, Mount{Path: common, Mode: ReadWrite, Why: "git worktree"})
	case !errors.Is(err, errNoWorktree):
		s.Notes = append(s.Notes, err.Error())
	}
	if r.o.StateDir != "" {
		id := InstanceID(root)
		s.Instance = &Instance{ID: id, Dir: filepath.Join(r.o.StateDir, "instances", id), Root: root}
	}
	return nil
}

// userMounts: --ro, --rw and the profile's mounts, then what a host tool
// runs from the project, read-only unless one of them lifts it, and the
// directories above it pinned; and the paths to hide.
func (r *resolver) userMounts() error {
	s := r.s
	user := len(s.Mounts)
	for _, m := range []struct {
		flag  string
		paths []string
		mode  Mode
	}{{"--ro", r.o.RO, ReadOnly}, {"--rw", r.o.RW, ReadWrite}} {
		for _, p := range m.paths {
			path, err := existingPath(m.flag, p, r.cwd)
			if err != nil {
				return err
			}
			if err := notThroughProjectLink(m.flag, p, path, r.cwd, s.Project); err != nil {
				return err
			}
			s.Mounts = append(s.Mounts, Mount{Path: path, Mode: m.mode, Why: m.flag})
		}
	}
	s.Mounts = append(s.Mounts, r.profile.Mounts...)
	lifted := func(p string) bool {
		return slices.ContainsFunc(s.Mounts[user:], func(m Mount) bool { return m.Mode == ReadWrite && Within(p, m.Path) })
	}
	protected, err := protectedIn(s.Project, r.common, r.h, lifted)
	if err != nil {
		return err
	}
	s.Mounts = protect(s.Mounts, user, protected)
	r.hide = slices.Clone(r.profile.Hide)
	for _, p := range r.o.Hide {
		path, err := existingPath("--hide", p, r.cwd)
		if err != nil {
			return err
		}
		r.hide = append(r.hide, path)
	}
	s.Mounts = pinAncestors(s.Mounts, r.hide)
	return nil
}

// command: the user's, or claude (found on the host PATH, its install
// tree shown read-only, no self-update).
func (r *resolver) command() error {
	s := r.s
	if len(r.o.Command) > 0 {
		s.Command = slices.Clone(r.o.Command)
		return nil
	}
	claude, m, err := findClaude(envValue(r.h.Environ, "PATH"), s.Home)
	if err != nil {
		return err
	}
	if m != nil {
		s.Mounts = append(s.Mounts, *m)
	}
	s.Command = append([]string{claude}, r.o.ClaudeArgs...)
	// Its install tree is read-only inside: no self-update.
	s.Env = setEnv(s.Env, "DISABLE_AUTOUPDATER", "1")
	return nil
}

// homeMounts: what the command finds under the hidden home: the tool
// directories on PATH, the user's own CLAUDE.md beside the instance's,
// which imports it, and the rest of the user's Claude Code setup
// (claudeSetup).
func (r *resolver) homeMounts() error {
	s := r.s
	s.Mounts = append(s.Mounts, toolDirs(envValue(r.h.Environ, "PATH"), s.Home, s.Mounts)...)
	if s.Instance != nil {
		r.hostClaudeMD()
		return r.claudeSetup()
	}
	return nil
}

// hidden: no path asked for twice, the mounts in order, and what is
// hidden: the floor (defaultHidden) and what the user named.
func (r *resolver) hidden() error {
	s := r.s
	if err := checkConflicts(s.Mounts, r.hide); err != nil {
		return err
	}
	// Parents before children: a --ro inside the project must land on top
	// of the project mount, not under it.
	slices.SortStableFunc(s.Mounts, func(a, b Mount) int { return Depth(a.Dest()) - Depth(b.Dest()) })
	s.Hidden = append(defaultHidden(r.h, s.Mounts), r.hide...)
	return nil
}

// sockets: which host unix sockets stay in reach: the Nix daemon's and
// those named with --socket or by the profile; the rest are denied by
// Landlock or hidden.
func (r *resolver) sockets() (err error) {
	var named []Socket
	for _, p := range r.profile.Sockets {
		named = append(named, Socket{Path: p, Why: "profile"})
	}
	for _, p := range r.o.Sockets {
		path, err := existingPath("--socket", p, r.cwd)
		if err != nil {
			return err
		}
		if err := notThroughProjectLink("--socket", p, path, r.cwd, r.s.Project); err != nil {
			return err
		}
		named = append(named, Socket{Path: path, Why: "--socket"})
	}
	instanceHome := ""
	if r.s.Instance != nil {
		instanceHome = r.s.Instance.HomeDir()
	}
	if r.s.Sockets, err = resolveSockets(r.h, named, r.s.Run, r.s.Home, instanceHome, r.s.Mounts); err != nil {
		return err
	}
	r.pinSockets()
	return nil
}

// pinSockets pins the directories above each host socket hidden in a tree
// the sandbox can write (the project, --rw), up to that tree's mount: a
// mount point cannot be renamed, so the sandbox cannot carry the socket
// out from under its mask to find it unhidden at the next launch, which
// looks for it where it was bound.
func (r *resolver) pinSockets() {
	s := r.s
	added := false
	for _, p := range s.Sockets.Hidden {
		dir := filepath.Dir(p)
		i := slices.IndexFunc(s.Mounts, func(m Mount) bool {
			return m.Mode == ReadWrite && !m.Pin && m.Target == "" && Within(p, m.Path)
		})
		if i < 0 || dir == s.Mounts[i].Path || slices.ContainsFunc(s.Mounts, func(m Mount) bool { return m.Dest() == dir }) {
			continue
		}
		s.Mounts = append(s.Mounts, Mount{Path: dir, Mode: ReadWrite, Why: WhyPin, Pin: true})
		added = true
	}
	if added {
		s.Mounts = pinAncestors(s.Mounts, r.hide)
		slices.SortStableFunc(s.Mounts, func(a, b Mount) int { return Depth(a.Dest()) - Depth(b.Dest()) })
	}
}
