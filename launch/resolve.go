package launch

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
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
	// --allow-net entries.
	Network  string
	AllowNet []string
	// NoSeccomp turns the seccomp filter off.
	NoSeccomp bool
	// Profile is applied under the flags: its env and mounts come first,
	// its tier below --network and CLAUDEBOX_NETWORK. nil for none.
	Profile *Profile
	// StateDir is claudebox's state directory (~/.claudebox); it holds the
	// per-project instances. "" launches without an instance.
	StateDir string
}

// Host holds the facts about the invoking user that a launch depends on.
type Host struct {
	UID, GID int
	Home     string
	Cwd      string
	Environ  []string
	// Root is the host's root directory; "" means "/". Tests point it at a
	// temporary directory.
	Root string
	// LandlockABI is the kernel's Landlock ABI version (0: none); from
	// ScopeABI on, the sandbox's abstract sockets and signals are scoped.
	LandlockABI int
	// Groups are the user's supplementary groups; SubGID the start of its
	// first subordinate gid range (0: none); NewGIDMap whether the
	// system's newgidmap is installed. They decide Spec.SubGID.
	Groups    []int
	SubGID    int
	NewGIDMap bool
}

// CurrentHost reads the facts about the running process.
func CurrentHost() (Host, error) {
	cwd, err := os.Getwd()
	if err != nil {
		return Host{}, fmt.Errorf("current directory: %w", err)
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return Host{}, withHint(fmt.Errorf("home directory: %w", err), "set HOME")
	}
	_, noGIDMap := HelperPath("newgidmap", "")
	return Host{
		UID: os.Getuid(), GID: os.Getgid(), Home: home, Cwd: cwd, Environ: os.Environ(),
		LandlockABI: LandlockABI(),
		Groups:      supplementaryGroups(), SubGID: firstSubGID(os.Getuid()), NewGIDMap: noGIDMap == nil,
	}, nil
}

// Resolve checks the options against the host and returns the launch Spec.
// Every error names the offending flag or path and carries a hint.
func Resolve(o Options, h Host) (*Spec, error) {
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
	s := &Spec{
		NoSeccomp: o.NoSeccomp,
		Project:   project,
		Workdir:   project,
		UID:       h.UID,
		GID:       h.GID,
		Home:      home,
		TTY:       o.TTY,
		Scoped:    h.LandlockABI >= ScopeABI,
	}
	if Within(cwd, project) {
		s.Workdir = cwd
	}
	ResolveGroups(s, h)
	p := o.Profile
	if p == nil {
		p = &Profile{}
	}
	s.Profile = p.Name
	if s.Network, err = resolveNetwork(o.Network, h.Environ, p, append(slices.Clone(p.AllowNet), o.AllowNet...)); err != nil {
		return nil, err
	}
	if s.Env, err = buildEnv(h.Environ, append(slices.Clone(p.Env), o.Env...), filepath.Clean(h.Home)); err != nil {
		return nil, err
	}
	if s.HostRoot, err = readHostRoot(h.Root); err != nil {
		return nil, err
	}
	s.Scratch = []string{"/tmp"}
	if fi, err := os.Stat(filepath.Join(h.Root, "var/tmp")); err == nil && fi.IsDir() {
		s.Scratch = append(s.Scratch, "/var/tmp")
	}

	s.Mounts = []Mount{{Path: project, Mode: ReadWrite, Why: "project"}}
	root, common := project, ""
	switch main, c, err := gitWorktree(project); {
	case err == nil:
		// A linked worktree shares its main worktree's instance, and git
		// inside needs the shared git directory.
		root, common = main, c
		s.Mounts = append(s.Mounts, Mount{Path: common, Mode: ReadWrite, Why: "git worktree"})
	case !errors.Is(err, errNoWorktree):
		s.Notes = append(s.Notes, err.Error())
	}
	if o.StateDir != "" {
		id := InstanceID(root)
		s.Instance = &Instance{ID: id, Dir: filepath.Join(o.StateDir, "instances", id), Root: root}
	}
	s.Auth = authOf(s.Env, home)
	user := len(s.Mounts)
	for _, m := range []struct {
		flag  string
		paths []string
		mode  Mode
	}{{"--ro", o.RO, ReadOnly}, {"--rw", o.RW, ReadWrite}} {
		for _, p := range m.paths {
			path, err := existingPath(m.flag, p, cwd)
			if err != nil {
				return nil, err
			}
			if err := notThroughProjectLink(m.flag, p, path, cwd, project); err != nil {
				return nil, err
			}
			s.Mounts = append(s.Mounts, Mount{Path: path, Mode: m.mode, Why: m.flag})
		}
	}
	s.Mounts = append(s.Mounts, p.Mounts...)
	s.Mounts = protect(s.Mounts, user, protectedIn(project, common))
	hidden := slices.Clone(p.Hide)
	for _, p := range o.Hide {
		path, err := existingPath("--hide", p, cwd)
		if err != nil {
			return nil, err
		}
		hidden = append(hidden, path)
	}

	if len(o.Command) > 0 {
		s.Command = slices.Clone(o.Command)
	} else {
		claude, m, err := findClaude(envValue(h.Environ, "PATH"), home)
		if err != nil {
			return nil, err
		}
		if m != nil {
			s.Mounts = append(s.Mounts, *m)
		}
		s.Command = append([]string{claude}, o.ClaudeArgs...)
		// Its install tree is read-only inside: no self-update.
		s.Env = setEnv(s.Env, "DISABLE_AUTOUPDATER", "1")
	}
	s.Mounts = append(s.Mounts, toolDirs(envValue(h.Environ, "PATH"), home, s.Mounts)...)
	if s.Instance != nil {
		// The user's own global instructions, read-only beside the
		// instance's CLAUDE.md, which imports them.
		if real, err := filepath.EvalSymlinks(filepath.Join(home, ".claude", "CLAUDE.md")); err == nil {
			s.Mounts = append(s.Mounts, Mount{Path: real, Target: HostClaudeMDPath(home), Mode: ReadOnly, Why: "your ~/.claude/CLAUDE.md"})
		}
	}

	if err := checkConflicts(s.Mounts, hidden); err != nil {
		return nil, err
	}
	// Parents before children: a --ro inside the project must land on top
	// of the project mount, not under it.
	slices.SortStableFunc(s.Mounts, func(a, b Mount) int { return Depth(a.Dest()) - Depth(b.Dest()) })
	s.Hidden = append(defaultHidden(h, s.Mounts), hidden...)
	return s, nil
}

func resolveProject(flag, cwd, home string) (string, error) {
	if flag == "" {
		p := gitTopLevel(cwd)
		if p == home || p == "/" {
			return "", withHint(fmt.Errorf("%w: the current directory %s is not inside a project", ErrBadProject, cwd),
				"cd into a project, or name one with --project DIR (--project ~ shares your whole home, secrets still hidden)")
		}
		return p, nil
	}
	p := flag
	if !filepath.IsAbs(p) {
		p = filepath.Join(cwd, p)
	}
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		return "", withHint(fmt.Errorf("%w: --project %s: %w", ErrBadProject, flag, unwrapPathError(err)),
			"give an existing directory; a relative path is taken from the current directory")
	}
	if fi, err := os.Stat(real); err != nil || !fi.IsDir() {
		return "", withHint(fmt.Errorf("%w: --project %s is not a directory", ErrBadProject, flag),
			"give the project's root directory")
	}
	if real == "/" {
		return "", withHint(fmt.Errorf("%w: --project %s would make the whole host writable", ErrBadProject, flag),
			"give the project's own directory")
	}
	return real, nil
}

// gitTopLevel walks up from dir to the nearest directory holding .git (a
// directory, or the file of a worktree or submodule); without one, dir is
// the project. It does what `git rev-parse --show-toplevel` does without
// running git.
func gitTopLevel(dir string) string {
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Lstat(filepath.Join(d, ".git")); err == nil && d != "/" {
			return d
		}
		if d == "/" {
			return dir
		}
	}
}

// existingPath makes p absolute and canonical, failing when it is missing.
func existingPath(flag, p, cwd string) (string, error) {
	if p == "" {
		return "", withHint(fmt.Errorf("%w: %s needs a path", ErrBadPath, flag), "give an existing file or directory")
	}
	abs := p
	if !filepath.IsAbs(abs) {
		abs = filepath.Join(cwd, abs)
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return "", withHint(fmt.Errorf("%w: %s %s: %w", ErrBadPath, flag, p, unwrapPathError(err)),
			"give an existing file or directory; a relative path is taken from the current directory")
	}
	if real == "/" {
		return "", withHint(fmt.Errorf("%w: %s %s names the host root", ErrBadPath, flag, p), "name a directory below /")
	}
	return real, nil
}

// notThroughProjectLink refuses a path named inside the project (which
// the sandbox can write) that a link there resolves to a place outside
// it: the sandbox could have planted that link to have ~/.ssh mounted.
// Naming the target itself is the way to mount it.
func notThroughProjectLink(flag, p, real, cwd, project string) error {
	abs := p
	if !filepath.IsAbs(abs) {
		abs = filepath.Join(cwd, abs)
	}
	if !Within(filepath.Clean(abs), project) || Within(real, project) {
		return nil
	}
	return withHint(fmt.Errorf("%w: %s %s leads out of the project through a link in it, to %s; the sandbox can write the project, so that link is not trusted", ErrBadPath, flag, p, real),
		"name "+real+" itself if that is what you mean")
}

func unwrapPathError(err error) error {
	if pe, ok := errors.AsType[*fs.PathError](err); ok {
		return pe.Err
	}
	return err
}

func checkConflicts(mounts []Mount, hidden []string) error {
	seen := map[string]Mount{}
	for _, m := range mounts {
		if prev, ok := seen[m.Path]; ok && prev.Mode != m.Mode {
			return withHint(fmt.Errorf("%w: %s is asked for both %s (%s) and %s (%s)", ErrBadPath, m.Path, prev.Mode, prev.Why, m.Mode, m.Why),
				"name each path once, with one mode")
		}
		seen[m.Path] = m
	}
	for _, h := range hidden {
		if m, ok := seen[h]; ok {
			return withHint(fmt.Errorf("%w: %s is asked to be both hidden (--hide) and mounted %s (%s)", ErrBadPath, h, m.Mode, m.Why),
				"drop one of the two")
		}
	}
	return nil
}

// homeSecrets are paths under $HOME that stay hidden even when a mount
// would otherwise show them (a project that is the home directory, a --ro of
// ~/.config). Naming one of them, or a path inside it, with --ro or --rw is
// the explicit way to show it.
var homeSecrets = []string{
	".claude", ".claude.json", ".claudebox", // other projects' transcripts
	".ssh", ".gnupg", ".aws", ".azure", ".kube", ".docker", ".netrc",
	".git-credentials", ".npmrc", ".pypirc", ".password-store",
	".config/gh", ".config/gcloud", ".config/hub", ".local/share/keyrings",
}

// IsSecretPath reports whether p is one of the well-known secret locations
// under home (~/.ssh, ~/.aws, ...), or inside one.
func IsSecretPath(home, p string) bool {
	return slices.ContainsFunc(homeSecrets, func(s string) bool { return Within(p, filepath.Join(home, s)) })
}

// hostIPC are the host services hidden on every launch, each a way out:
// the user's runtime directory (ssh-agent, the session bus, keyrings), the
// system bus (polkit may let an active session's uid power off, mount,
// reconfigure the network), and the sockets of root-equivalent services:
// container engines, lxd, incus, libvirt. --ro or --rw of one shows it.
var hostIPC = []string{
	"/run/dbus", "/var/run/dbus",
	"/run/docker.sock", "/var/run/docker.sock", "/run/docker",
	"/run/containerd", "/run/podman", "/run/crio", "/run/buildkit",
	"/var/lib/lxd/unix.socket", "/var/snap/lxd/common/lxd/unix.socket", "/run/lxd",
	"/var/lib/incus/unix.socket", "/run/incus",
	"/run/libvirt", "/var/run/libvirt",
}

// defaultHidden lists what is hidden on every launch: hostIPC and the
// user's runtime directory, /root, and the home secrets that a mount would
// show. Only existing paths are listed, and none that a mount names (the
// way to show one on purpose).
func defaultHidden(h Host, mounts []Mount) []string {
	candidates := append([]string{"/run/user/" + strconv.Itoa(h.UID)}, hostIPC...)
	if h.UID != 0 {
		candidates = append(candidates, "/root")
	}
	for _, s := range homeSecrets {
		p := filepath.Join(h.Home, s)
		shown := slices.ContainsFunc(mounts, func(m Mount) bool { return Within(p, m.Path) })
		named := slices.ContainsFunc(mounts, func(m Mount) bool { return Within(m.Path, p) })
		if shown && !named {
			candidates = append(candidates, p)
		}
	}
	var out []string
	for _, c := range candidates {
		real, err := filepath.EvalSymlinks(c)
		if err != nil {
			continue
		}
		named := slices.ContainsFunc(mounts, func(m Mount) bool { return Within(m.Path, real) })
		if !named && !slices.Contains(out, real) {
			out = append(out, real)
		}
	}
	return out
}

// readHostRoot lists the top-level entries of the host root that the sandbox
// root is built from.
func readHostRoot(root string) ([]TopEntry, error) {
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil, fmt.Errorf("reading host root: %w", err)
	}
	var out []TopEntry
	for _, e := range entries {
		switch e.Name() {
		case "proc", "sys", "dev", "tmp", "lost+found":
			continue
		}
		switch {
		case e.Type()&fs.ModeSymlink != 0:
			link, err := os.Readlink(filepath.Join(root, e.Name()))
			if err != nil {
				return nil, fmt.Errorf("reading host root: %w", err)
			}
			out = append(out, TopEntry{Name: e.Name(), Link: link})
		case e.IsDir():
			out = append(out, TopEntry{Name: e.Name()})
		}
	}
	return out, nil
}

// FindClaude looks claude up in h's PATH, as a launch does: the command
// to run and, when it lives under the home, the read-only mount of its
// install tree.
func FindClaude(h Host) (string, *Mount, error) {
	return findClaude(envValue(h.Environ, "PATH"), h.canonicalHome())
}

// canonicalHome is the home with symlinks resolved, when it exists.
func (h Host) canonicalHome() string {
	home := filepath.Clean(h.Home)
	if real, err := filepath.EvalSymlinks(home); err == nil {
		return real
	}
	return home
}

// findClaude looks claude up on the host PATH and follows its symlinks
// (~/.local/bin/claude -> ~/.local/share/claude/versions/X). When its real
// location is under the (hidden) home, its install tree is mounted
// read-only: the directory holding it, or the npm package around it.
func findClaude(path, home string) (string, *Mount, error) {
	hint := "install Claude Code (https://docs.anthropic.com/en/docs/claude-code) or run another command with: claudebox run -- CMD"
	var found string
	for _, dir := range filepath.SplitList(path) {
		if dir == "" || !filepath.IsAbs(dir) {
			continue
		}
		p := filepath.Join(dir, "claude")
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			found = p
			break
		}
	}
	if found == "" {
		return "", nil, withHint(fmt.Errorf("%w: no claude on PATH", ErrNoClaude), hint)
	}
	real, err := filepath.EvalSymlinks(found)
	if err != nil {
		return "", nil, withHint(fmt.Errorf("%w: %s: %w", ErrNoClaude, found, err), hint)
	}
	if Within(real, home) {
		return real, &Mount{Path: installTree(real), Mode: ReadOnly, Why: "claude"}, nil
	}
	return found, nil, nil
}

// installTree is the directory to mount for a program: the npm package
// holding it (a package.json up to two levels above), else its directory.
func installTree(program string) string {
	dir := filepath.Dir(program)
	for d, i := dir, 0; i < 3; d, i = filepath.Dir(d), i+1 {
		if _, err := os.Stat(filepath.Join(d, "package.json")); err == nil {
			return d
		}
	}
	return dir
}

// toolDirs are the user's own tool directories on PATH that live under the
// hidden home (~/.local/bin, ~/go/bin, ~/.cargo/bin, npm's prefix, ...),
// shown read-only so PATH inside finds what it finds outside. Directories
// a mount already shows are skipped.
func toolDirs(path, home string, mounts []Mount) []Mount {
	var out []Mount
	for _, dir := range filepath.SplitList(path) {
		if !filepath.IsAbs(dir) {
			continue
		}
		real, err := filepath.EvalSymlinks(dir)
		if err != nil || !Within(real, home) || real == home {
			continue
		}
		if fi, err := os.Stat(real); err != nil || !fi.IsDir() {
			continue
		}
		shown := slices.ContainsFunc(append(slices.Clone(mounts), out...), func(m Mount) bool { return Within(real, m.Path) })
		if !shown {
			out = append(out, Mount{Path: real, Mode: ReadOnly, Why: "tools on PATH"})
		}
	}
	return out
}

// envValue returns the last value of name in environ, as getenv does.
func envValue(environ []string, name string) string {
	for _, kv := range slices.Backward(environ) {
		if k, v, ok := strings.Cut(kv, "="); ok && k == name {
			return v
		}
	}
	return ""
}

// Within reports whether p is dir or below it.
func Within(p, dir string) bool {
	if dir == "/" {
		return true
	}
	return p == dir || strings.HasPrefix(p, dir+"/")
}

// Depth is how many components a path has: mounts are applied in order
// of Depth, so that parents come before children.
func Depth(p string) int {
	if p = filepath.Clean(p); p == "/" {
		return 0
	}
	return strings.Count(p, "/")
}
