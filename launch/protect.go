package launch

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"

	"github.com/claudebox/claudebox/internal/safefs"
)

// Why a protected path is read-only inside, as the plan and SANDBOX.md
// say it.
const (
	WhyGitHooks  = "git hooks: git runs them on the host"
	WhyGitConfig = "git config: git on the host runs what it names (fsmonitor, hooksPath, pager, filters, aliases)"
	WhyGitLink   = "git's links (commondir, gitdir, .git files, alternates): they tell git on the host where its config and objects are"
	WhyGitInfo   = "git's info (attributes, excludes): git on the host reads it"
	WhyHookFW    = "hook framework configuration: the installed git hook runs what it names on the host"
	WhyClaude    = "Claude Code's project settings and MCP servers: claude on the host loads them"
	WhyEditor    = "editor settings and tasks: the editor on the host runs them"
	WhyPin       = "pinned: cannot be renamed or removed, so what is read-only below it stays where the host's tools look"
)

// Caps on the walk for protected paths, which reads a tree the sandbox
// can write. Past a cap the launch is refused (capError): protecting the
// whole directory instead would leave git unable to work in the
// submodules or worktrees it holds, a failure far from its cause.
const (
	maxGitEntries  = 4096 // entries looked at in worktrees/ and modules/, all git directories together
	maxModuleDepth = 4    // nesting of modules/ directories, and components of a submodule's name
	maxIncludes    = 10   // nesting of include.path, as git's own limit
	maxHookFiles   = 256  // hooks looked at for a framework's mark
	maxHookSize    = 64 << 10
)

// errProtect is what protectedIn refuses a launch with.
var errProtect = errors.New("cannot protect what the host's tools run")

// protector is one walk of protectedIn.
type protector struct {
	project, common string
	home            string
	roots           map[string]*safefs.Dir // project and common, by path
	lifted          func(string) bool
	global          []gitConfigEntry
	out             []Mount
	seen            map[string]bool
	budget          int // entries of worktrees/ and modules/ left to look at
}

// protectedIn lists the paths in the project and its git directories that
// a host tool executes, or loads as configuration, without asking: the
// sandbox must not be able to plant them, so each is shown read-only
// (Mount.Protected), and its directories up to the project are pinned
// (Mount.Pin, see pinAncestors).
//
// In every git directory found (the project's .git, a linked worktree's
// shared one, modules/** and worktrees/* in them, a submodule's .git in
// its work tree that .gitmodules lists): config,
// config.worktree, commondir, hooks/, info/, objects/info/alternates and
// http-alternates; in worktrees/*: commondir, gitdir, config.worktree,
// and the .git file of a worktree inside the project; a submodule's .git
// file in the project. What git would read if it appeared is made first,
// neutral, to be shown read-only (Mount.Placeholder): hooks/ and info/
// empty, commondir "." (the directory itself: git reads it as absent),
// objects/info/alternates empty, config.worktree empty when
// extensions.worktreeConfig asks git to read it.
//
// Read from the configs (parseGitConfig, never git), also: the
// core.hooksPath target and include.path / includeIf files inside the
// project; and, when an installed hook belongs to a framework
// (hookFrameworks), the configuration it reads. In the project:
// .claude/settings.json, .mcp.json, .vscode and .idea; .claude is pinned.
//
// Everything is looked at through safefs. A protected name that is a
// link, FIFO or device refuses the launch (but a FIFO or device at .git,
// of which git makes nothing): the host's tools follow a link, and no
// mount can keep the sandbox from replacing one. So do more
// entries in worktrees/ and modules/ than maxGitEntries, or deeper
// modules than maxModuleDepth. lifted reports paths a read-write mount
// the user asked for covers: they are not walked.
func protectedIn(project, common string, h Host, lifted func(string) bool) ([]Mount, error) {
	p := &protector{project: project, common: common, home: filepath.Clean(h.Home), lifted: lifted,
		roots: map[string]*safefs.Dir{}, seen: map[string]bool{}, budget: maxGitEntries}
	root, err := safefs.OpenRoot(project, project)
	if err != nil {
		return nil, nil
	}
	p.roots[project] = root
	defer func() {
		for _, d := range p.roots {
			d.Close()
		}
	}()
	if common != "" {
		if c, err := safefs.OpenPath(common, common); err == nil {
			p.roots[common] = c
		}
	}
	p.global = globalGitConfig(h)
	if err := p.walk(); err != nil {
		return nil, err
	}
	return p.out, nil
}

func (p *protector) walk() error {
	git := filepath.Join(p.project, ".git")
	switch kind, err := p.kind(git); {
	case err == nil && kind == fs.ModeDir:
		// A git directory when it holds HEAD, as git has it; an empty one
		// the sandbox fills is a new git directory, for the review at exit.
		if k, err := p.kind(filepath.Join(git, "HEAD")); err == nil && k == 0 {
			if err := p.gitDir(git, p.project, 0); err != nil {
				return err
			}
		}
	case err == nil && kind == 0:
		// A linked worktree's or a submodule's link to its git directory.
		p.add(git, WhyGitLink, nil)
	case err == nil && kind&fs.ModeSymlink != 0:
		return p.badKind(git, kind)
	}
	// A FIFO or a device at .git: git can make nothing of it.
	if p.common != "" && p.roots[p.common] != nil {
		if err := p.gitDir(p.common, p.project, 0); err != nil {
			return err
		}
	}
	claude := filepath.Join(p.project, ".claude")
	switch kind, err := p.kind(claude); {
	case err == nil && kind == fs.ModeDir:
		p.pin(claude)
	case err == nil && kind&fs.ModeSymlink != 0:
		return p.badKind(claude, kind)
	}
	for _, f := range []struct{ rel, why string }{
		{".claude/settings.json", WhyClaude},
		{".mcp.json", WhyClaude},
		{".vscode", WhyEditor},
		{".idea", WhyEditor},
	} {
		if err := p.existing(filepath.Join(p.project, f.rel), f.why); err != nil {
			return err
		}
	}
	return nil
}

// tree finds the open root holding path, and path relative to it.
func (p *protector) tree(path string) (*safefs.Dir, string, bool) {
	for r, d := range p.roots {
		if Within(path, r) {
			rel, _ := filepath.Rel(r, path)
			return d, rel, true
		}
	}
	return nil, "", false
}

// kind says what path is, without following links; fs.ErrNotExist also
// for a path outside the project and the shared git directory.
func (p *protector) kind(path string) (fs.FileMode, error) {
	d, rel, ok := p.tree(path)
	switch {
	case !ok:
		return 0, fs.ErrNotExist
	case rel == ".":
		return fs.ModeDir, nil
	}
	return d.Kind(rel)
}

// add protects path, as it is; missing, it is made as ph says first (nil:
// left missing). The caller has checked that path is not a link.
func (p *protector) add(path, why string, ph *Placeholder) {
	if p.seen[path] {
		return
	}
	p.seen[path] = true
	p.out = append(p.out, Mount{Path: path, Mode: ReadOnly, Why: why, Protected: true, Placeholder: ph})
}

// pin makes the directory path a mount point inside (see pinAncestors).
func (p *protector) pin(path string) {
	if !p.seen[path] {
		p.seen[path] = true
		p.out = append(p.out, Mount{Path: path, Mode: ReadWrite, Why: WhyPin, Pin: true})
	}
}

// protect protects path if it exists as a file or a directory, or, when
// missing, makes ph there (nil: leaves it missing). Any other kind of
// entry refuses the launch.
func (p *protector) protect(path, why string, ph *Placeholder) error {
	if _, _, ok := p.tree(path); !ok {
		return nil
	}
	kind, err := p.kind(path)
	switch {
	case err == nil && (kind == 0 || kind == fs.ModeDir):
		p.add(path, why, nil)
	case err == nil:
		return p.badKind(path, kind)
	case errors.Is(err, fs.ErrNotExist) && ph != nil:
		// Made where its parent is; a missing parent is made in its
		// place, as a directory, when path is a directory.
		missing, ok := p.firstMissing(path)
		switch {
		case !ok:
			return nil
		case missing == path:
			p.add(path, why, ph)
		default:
			p.add(missing, why, &Placeholder{Dir: true})
		}
	case errors.As(err, new(*safefs.Error)):
		// A parent is a link or not a directory: git would follow it.
		return withHint(fmt.Errorf("%w: %w", errProtect, err), linkFix)
	}
	return nil
}

// existing protects path if it is there.
func (p *protector) existing(path, why string) error { return p.protect(path, why, nil) }

// firstMissing returns the first component of path, below its tree's
// root, that does not exist; false if one in the way is not a directory.
func (p *protector) firstMissing(path string) (string, bool) {
	_, rel, ok := p.tree(path)
	if !ok {
		return "", false
	}
	parts := strings.Split(rel, "/")
	cur := strings.TrimSuffix(path, "/"+rel)
	for _, part := range parts {
		cur = filepath.Join(cur, part)
		kind, err := p.kind(cur)
		if errors.Is(err, fs.ErrNotExist) {
			return cur, true
		}
		if err != nil || kind != fs.ModeDir {
			return "", false
		}
	}
	return "", false
}

func (p *protector) badKind(path string, kind fs.FileMode) error {
	what := "neither a file nor a directory"
	switch {
	case kind&fs.ModeSymlink != 0:
		what = "a symbolic link"
	case kind&fs.ModeNamedPipe != 0:
		what = "a FIFO"
	case kind&fs.ModeSocket != 0:
		what = "a socket"
	case kind&fs.ModeDevice != 0:
		what = "a device"
	}
	return withHint(fmt.Errorf("%w: %s is %s: the host's tools read what it points to, and a read-only mount cannot keep the sandbox from replacing it",
		errProtect, path, what), linkFix)
}

const linkFix = "look at it on the host, and replace it with the file or directory it stands for (for a hooks directory kept elsewhere: git config core.hooksPath DIR)"

// gitDir protects what git reads in the git directory path (depth:
// nesting of modules/), whose work tree is worktree ("" when unknown).
func (p *protector) gitDir(path, worktree string, depth int) error {
	if p.lifted(path) {
		return nil
	}
	cfg, err := p.config(filepath.Join(path, "config"))
	if err != nil {
		return err
	}
	for _, f := range []struct {
		rel, why string
		ph       *Placeholder
	}{
		{"config", WhyGitConfig, &Placeholder{}},
		{"commondir", WhyGitLink, &Placeholder{Content: ".\n"}},
		{"hooks", WhyGitHooks, &Placeholder{Dir: true}},
		{"info", WhyGitInfo, &Placeholder{Dir: true}},
		{"objects/info/alternates", WhyGitLink, &Placeholder{}},
		{"objects/info/http-alternates", WhyGitLink, nil},
		{"config.worktree", WhyGitConfig, worktreeConfig(cfg)},
	} {
		ph := f.ph
		if strings.HasPrefix(f.rel, "objects/") {
			// Made only in an objects/info/ that exists.
			if k, err := p.kind(filepath.Join(path, "objects/info")); err != nil || k != fs.ModeDir {
				ph = nil
			}
		}
		if err := p.protect(filepath.Join(path, f.rel), f.why, ph); err != nil {
			return err
		}
	}
	if worktree == "" {
		// A submodule's: its .git file, when in the project, is a link
		// of git's too.
		worktree = gitPath(lastValue(cfg, "core.worktree"), p.home, path)
		if worktree != "" && worktree != p.project {
			if err := p.existing(filepath.Join(worktree, ".git"), WhyGitLink); err != nil {
				return err
			}
		}
	}
	if err := p.followConfig(cfg, path, worktree, 0); err != nil {
		return err
	}
	if err := p.hookFrameworks(path, cfg, worktree); err != nil {
		return err
	}
	if err := p.worktrees(path, cfg); err != nil {
		return err
	}
	if err := p.modules(path, "modules", depth, 0); err != nil {
		return err
	}
	return p.inTreeSubmodules(worktree, depth)
}

// inTreeSubmodules protects the submodules .gitmodules lists in the work
// tree worktree whose git directory is still in their own work tree (a
// submodule added from a repository already there, or cloned by an old
// git): `git status` in the superproject runs their config too.
func (p *protector) inTreeSubmodules(worktree string, depth int) error {
	if worktree == "" {
		return nil
	}
	cfg, err := p.config(filepath.Join(worktree, ".gitmodules"))
	if err != nil || cfg == nil {
		return err
	}
	for _, e := range cfg {
		if !strings.HasPrefix(e.Key, "submodule.") || !strings.HasSuffix(e.Key, ".path") || !filepath.IsLocal(e.Value) {
			continue
		}
		git := filepath.Join(worktree, e.Value, ".git")
		k, err := p.kind(git)
		switch {
		case err != nil || p.seen[git] || p.lifted(git):
		case k == fs.ModeDir:
			if h, err := p.kind(filepath.Join(git, "HEAD")); err != nil || h != 0 {
				continue
			}
			if depth+1 > maxModuleDepth {
				return p.capError(git, fmt.Sprintf("is a submodule nested deeper than the %d levels claudebox looks at", maxModuleDepth))
			}
			p.seen[git] = true
			if err := p.gitDir(git, filepath.Dir(git), depth+1); err != nil {
				return err
			}
		default:
			if err := p.existing(git, WhyGitLink); err != nil {
				return err
			}
		}
	}
	return nil
}

// config reads and parses a git config file in a tree; nothing for one
// that is missing or not a regular file (protect says so).
func (p *protector) config(path string) ([]gitConfigEntry, error) {
	d, rel, ok := p.tree(path)
	if !ok {
		return nil, nil
	}
	b, _, err := d.ReadFile(rel, maxGitConfig)
	var bad *safefs.Error
	switch {
	case errors.As(err, &bad) && strings.Contains(bad.Problem, "allowed"):
		return nil, withHint(fmt.Errorf("%w: %w", errProtect, err), "git configs are small: look at "+path+" on the host")
	case err != nil:
		return nil, nil
	}
	return parseGitConfig(b), nil
}

// worktreeConfig is config.worktree's placeholder: an empty file when the
// config asks git to read it, else none (git ignores it).
func worktreeConfig(cfg []gitConfigEntry) *Placeholder {
	if configBool(cfg, "extensions.worktreeconfig") {
		return &Placeholder{}
	}
	return nil
}

func lastValue(cfg []gitConfigEntry, key string) string {
	v := configValues(cfg, key)
	if len(v) == 0 {
		return ""
	}
	return v[len(v)-1]
}

// followConfig protects what the config cfg of the git directory gitdir
// (read from a file in dir) points git at: the core.hooksPath target (of
// the user's global config too) and the files it includes, themselves
// followed (depth: include nesting).
func (p *protector) followConfig(cfg []gitConfigEntry, dir, worktree string, depth int) error {
	hooks := configValues(cfg, "core.hookspath")
	if depth == 0 {
		hooks = append(configValues(p.global, "core.hookspath"), hooks...)
		for _, inc := range globalIncludes(p.global, p.home) {
			if err := p.include(inc, dir, worktree, depth); err != nil {
				return err
			}
		}
	}
	for _, h := range hooks {
		target := gitPath(h, p.home, worktree)
		if target == "" {
			continue
		}
		if husky := filepath.Join(worktree, ".husky"); worktree != "" && Within(target, husky) {
			target = husky // husky's shims call the scripts beside them
		}
		if err := p.protect(target, WhyGitHooks, &Placeholder{Dir: true}); err != nil {
			return err
		}
	}
	for _, inc := range includePaths(cfg) {
		if err := p.include(gitPath(inc, p.home, dir), dir, worktree, depth); err != nil {
			return err
		}
	}
	return nil
}

// include protects an included config file inside the project (an empty
// one when missing) and follows it.
func (p *protector) include(path, gitdir, worktree string, depth int) error {
	if path == "" || depth >= maxIncludes {
		return nil
	}
	if _, _, ok := p.tree(path); !ok {
		return nil
	}
	if err := p.protect(path, WhyGitConfig, &Placeholder{}); err != nil {
		return err
	}
	cfg, err := p.config(path)
	if err != nil || cfg == nil {
		return err
	}
	return p.followConfig(cfg, filepath.Dir(path), worktree, depth+1)
}

// worktrees protects the per-worktree git directories in gitdir's
// worktrees/, and the .git file of a worktree that lies in the project.
func (p *protector) worktrees(gitdir string, cfg []gitConfigEntry) error {
	dir := filepath.Join(gitdir, "worktrees")
	names, err := p.list(dir)
	if err != nil || names == nil {
		return err
	}
	for _, n := range names {
		wt := filepath.Join(dir, n)
		if k, err := p.kind(wt); err != nil || k != fs.ModeDir {
			continue
		}
		for _, f := range []struct {
			rel string
			ph  *Placeholder
		}{
			// Without commondir, git would take this directory for a
			// whole git directory and read a config planted in it.
			{"commondir", &Placeholder{Content: "../..\n"}},
			{"gitdir", nil},
			{"config.worktree", worktreeConfig(cfg)},
		} {
			why := WhyGitLink
			if f.rel == "config.worktree" {
				why = WhyGitConfig
			}
			if err := p.protect(filepath.Join(wt, f.rel), why, f.ph); err != nil {
				return err
			}
		}
		if link := p.gitLink(filepath.Join(wt, "gitdir")); link != "" {
			if err := p.existing(link, WhyGitLink); err != nil {
				return err
			}
		}
	}
	return nil
}

// gitLink reads a gitdir file: the path it names, "" for none or one
// outside the project.
func (p *protector) gitLink(path string) string {
	d, rel, ok := p.tree(path)
	if !ok {
		return ""
	}
	b, _, err := d.ReadFile(rel, maxGitLink)
	if err != nil {
		return ""
	}
	link := absFrom(filepath.Dir(path), strings.TrimSpace(string(b)))
	if !Within(link, p.project) {
		return ""
	}
	return link
}

// list lists dir, a worktrees/ or modules/ directory, within the budget;
// nil for none (or one a read-write mount covers).
func (p *protector) list(dir string) ([]string, error) {
	if p.lifted(dir) {
		return nil, nil
	}
	d, rel, ok := p.tree(dir)
	if !ok {
		return nil, nil
	}
	if k, err := d.Kind(rel); err != nil || k != fs.ModeDir {
		return nil, nil
	}
	names, err := d.ReadDirNames(rel, p.budget)
	if err != nil {
		if errors.As(err, new(*safefs.Error)) {
			return nil, p.capError(dir, fmt.Sprintf("holds more entries than the %d claudebox looks at, in all worktrees/ and modules/ together", maxGitEntries))
		}
		return nil, nil
	}
	p.budget -= len(names)
	return names, nil
}

func (p *protector) capError(dir, what string) error {
	fix := "remove what git no longer uses there on the host"
	if filepath.Base(dir) == "worktrees" || filepath.Base(filepath.Dir(dir)) == "worktrees" {
		fix = "remove stale worktrees on the host (git worktree prune)"
	}
	return withHint(fmt.Errorf("%w: %s %s, so what git runs from it cannot all be protected", errProtect, dir, what),
		fix+"; or lift the protection with --rw "+dir+" (the sandbox can then plant what the host's git runs there)")
}

// modules walks gitdir's modules/ directory rel for the git directories
// of submodules (a submodule's name may hold slashes: modules/a/b; it
// is a git directory when it holds HEAD). depth is the nesting of
// submodules, parts the components of the name so far.
func (p *protector) modules(gitdir, rel string, depth, parts int) error {
	names, err := p.list(filepath.Join(gitdir, rel))
	if err != nil || names == nil {
		return err
	}
	for _, n := range names {
		sub := filepath.Join(gitdir, rel, n)
		if k, err := p.kind(sub); err != nil || k != fs.ModeDir {
			continue
		}
		if k, err := p.kind(filepath.Join(sub, "HEAD")); err == nil && k == 0 {
			if depth+1 > maxModuleDepth {
				return p.capError(sub, fmt.Sprintf("is a submodule nested deeper than the %d levels claudebox looks at", maxModuleDepth))
			}
			if err := p.gitDir(sub, "", depth+1); err != nil {
				return err
			}
			continue
		}
		if parts+1 >= maxModuleDepth {
			return p.capError(sub, fmt.Sprintf("is nested deeper than the %d levels claudebox looks at for submodules", maxModuleDepth))
		}
		if err := p.modules(gitdir, filepath.Join(rel, n), depth, parts+1); err != nil {
			return err
		}
	}
	return nil
}

// globalGitConfig reads the user's and the system's git configuration
// (trusted files: the sandbox cannot write them), for a core.hooksPath
// or an include that reaches into the project.
func globalGitConfig(h Host) []gitConfigEntry {
	root := h.Root
	if root == "" {
		root = "/"
	}
	xdg := envValue(h.Environ, "XDG_CONFIG_HOME")
	if xdg == "" {
		xdg = filepath.Join(h.Home, ".config")
	}
	var out []gitConfigEntry
	for _, f := range []string{filepath.Join(root, "etc/gitconfig"), filepath.Join(xdg, "git/config"), filepath.Join(h.Home, ".gitconfig")} {
		if b, _, err := safefs.ReadTrusted(f, maxGitConfig); err == nil {
			for _, e := range parseGitConfig(b) {
				if e.Key == "include.path" || strings.HasPrefix(e.Key, "includeif.") {
					// Relative to the file that holds it.
					e.Value = gitPath(e.Value, h.Home, filepath.Dir(f))
				}
				out = append(out, e)
			}
		}
	}
	return out
}

// globalIncludes are the files the global configuration includes, made
// absolute by globalGitConfig.
func globalIncludes(cfg []gitConfigEntry, home string) []string {
	var out []string
	for _, inc := range includePaths(cfg) {
		if p := gitPath(inc, home, ""); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// protect adds the protected paths to mounts, but for those a read-write
// mount the user asked for (mounts[user:]: --rw, a profile's) covers: that
// mount lifts the protection, and says so (Mount.Unprotects). A protected
// path already mounted is not listed twice.
func protect(mounts []Mount, user int, protected []Mount) []Mount {
	end := len(mounts) // what is added here lifts nothing
	for _, p := range protected {
		lifted := false
		for i := user; i < end; i++ {
			if mounts[i].Mode == ReadWrite && Within(p.Path, mounts[i].Path) {
				if !p.Pin {
					mounts[i].Unprotects = true
				}
				lifted = true
			}
		}
		mounted := slices.ContainsFunc(mounts, func(m Mount) bool { return m.Path == p.Path })
		if !lifted && !mounted {
			mounts = append(mounts, p)
		}
	}
	return mounts
}
