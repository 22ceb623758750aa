package launch

import (
	"errors"
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
	WhyClaude    = "Claude Code's project settings and MCP servers: claude on the host loads them"
	WhyEditor    = "editor settings and tasks: the editor on the host runs them"
)

// Caps on the walk for protected paths, which reads a tree the sandbox can
// write.
const (
	maxGitEntries  = 4096 // names in one directory of a git directory
	maxModuleDepth = 4    // nesting of .git/modules
)

// protectedIn lists the paths in the project and its git directories that
// a host tool executes, or loads as configuration, without asking: the
// sandbox must not be able to plant them, so each is shown read-only
// (Mount.Protected). In each git directory G (the project's .git, a
// worktree's shared one, a submodule's under G/modules): G/hooks (listed
// even when missing: the launcher makes it, empty), G/config,
// G/config.worktree and G/worktrees/*/config.worktree. In the project:
// .claude/settings.json, .mcp.json, .vscode and .idea, when they exist.
// Everything is looked at through safefs: a path that is a link, or not
// of its kind, is not a git directory's and is left alone.
func protectedIn(project, common string) []Mount {
	var out []Mount
	root, err := safefs.OpenRoot(project, project)
	if err != nil {
		return nil
	}
	defer root.Close()
	if kind, err := root.Kind(".git"); err == nil && kind == fs.ModeDir {
		if g, err := root.OpenDir(".git"); err == nil {
			out = append(out, gitProtected(g, filepath.Join(project, ".git"), 0)...)
			g.Close()
		}
	}
	if common != "" {
		if g, err := safefs.OpenPath(common, common); err == nil {
			out = append(out, gitProtected(g, common, 0)...)
			g.Close()
		}
	}
	for _, p := range []struct {
		rel string
		dir bool
		why string
	}{
		{".claude/settings.json", false, WhyClaude},
		{".mcp.json", false, WhyClaude},
		{".vscode", true, WhyEditor},
		{".idea", true, WhyEditor},
	} {
		if kind, err := root.Kind(p.rel); err == nil && (kind == fs.ModeDir) == p.dir && (p.dir || kind == 0) {
			out = append(out, Mount{Path: filepath.Join(project, p.rel), Mode: ReadOnly, Why: p.why, Protected: true})
		}
	}
	return out
}

// gitProtected lists what to protect in the git directory g (at path).
func gitProtected(g *safefs.Dir, path string, depth int) []Mount {
	out := []Mount{}
	switch kind, err := g.Kind("hooks"); {
	case err == nil && kind == fs.ModeDir, errors.Is(err, fs.ErrNotExist):
		out = append(out, Mount{Path: filepath.Join(path, "hooks"), Mode: ReadOnly, Why: WhyGitHooks, Protected: true})
	}
	files := []string{"config", "config.worktree"}
	if names, err := g.ReadDirNames("worktrees", maxGitEntries); err == nil {
		for _, n := range names {
			files = append(files, filepath.Join("worktrees", n, "config.worktree"))
		}
	}
	for _, f := range files {
		if kind, err := g.Kind(f); err == nil && kind == 0 {
			out = append(out, Mount{Path: filepath.Join(path, f), Mode: ReadOnly, Why: WhyGitConfig, Protected: true})
		}
	}
	if depth < maxModuleDepth {
		out = append(out, modulesProtected(g, path, "modules", depth)...)
	}
	return out
}

// modulesProtected walks g's modules directory rel for the git directories
// of submodules (a submodule's name may hold slashes: modules/a/b).
func modulesProtected(g *safefs.Dir, path, rel string, depth int) []Mount {
	names, err := g.ReadDirNames(rel, maxGitEntries)
	if err != nil {
		return nil
	}
	var out []Mount
	for _, n := range names {
		sub := filepath.Join(rel, n)
		if kind, err := g.Kind(sub); err != nil || kind != fs.ModeDir {
			continue
		}
		d, err := g.OpenDir(sub)
		if err != nil {
			continue
		}
		if kind, err := d.Kind("HEAD"); err == nil && kind == 0 {
			out = append(out, gitProtected(d, filepath.Join(path, sub), depth+1)...)
		} else if strings.Count(sub, "/") < maxModuleDepth {
			out = append(out, modulesProtected(g, path, sub, depth)...)
		}
		d.Close()
	}
	return out
}

// protect adds the protected paths to mounts, but for those a read-write
// mount the user asked for (mounts[user:]: --rw, a profile's) covers: that
// mount lifts the protection, and says so (Mount.Unprotects). A protected
// path already mounted is not listed twice.
func protect(mounts []Mount, user int, protected []Mount) []Mount {
	for _, p := range protected {
		lifted := false
		for i := user; i < len(mounts); i++ {
			if mounts[i].Mode == ReadWrite && Within(p.Path, mounts[i].Path) {
				mounts[i].Unprotects = true
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
