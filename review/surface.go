package review

import (
	"errors"
	"io/fs"
	"path"
	"slices"
	"strings"

	"github.com/claudebox/claudebox/internal/safefs"
)

// Caps on what is looked at in a tree the sandbox can write.
const (
	maxNames       = 4096    // entries in one directory of a git directory, .vscode, .idea
	maxModuleDepth = 8       // nesting of a git directory's modules/
	maxKeep        = 1 << 20 // a file whose content is kept (to restore, to accept)
	maxGitfile     = 4 << 10 // a .git file
	maxLocations   = 16384   // places a host tool looks, in one project
)

// locKind is what a location of the host-run surface is.
type locKind int

const (
	locGitDir  locKind = iota // a git directory: .git, a bare-looking one, a gitfile's target
	locGitfile                // an entry named .git that is not a directory
	locClaude                 // a .claude directory
	locMCP                    // .mcp.json
	locVSCode                 // a .vscode directory
	locIdea                   // a .idea directory
	locOdd                    // one of those names, not of its kind (a link to elsewhere)
)

// location is a place in the project where a host tool finds what it
// runs, and whether it may be new since the session began (fresh: its
// directory, or one above it, changed since; or it was absent at launch).
type location struct {
	rel   string
	kind  locKind
	fresh bool
	// redirected: a link or .git file the session made or changed leads
	// here, so what was here before is newly in reach: judged as new.
	redirected bool
}

// item is one file of the host-run surface.
type item struct {
	rel  string
	kind kind
}

// surfaceNames are the entry names that make a location, wherever they
// are in the project.
var surfaceNames = map[string]locKind{".git": locGitDir, ".claude": locClaude, ".mcp.json": locMCP, ".vscode": locVSCode, ".idea": locIdea}

// errIncomplete: a cap was reached; what is past it was not looked at.
var errIncomplete = errors.New("incomplete")

// items lists the files of loc that exist now, with their kinds. A cap
// reached is reported (errIncomplete) with what was found until then.
func items(root *safefs.Dir, loc location) ([]item, error) {
	switch loc.kind {
	case locGitDir:
		return gitItems(root, loc.rel, 0)
	case locGitfile:
		return []item{{loc.rel, kindGitfile}}, nil
	case locMCP:
		return []item{{loc.rel, kindMCP}}, nil
	case locOdd:
		k := map[string]kind{".git": kindGitfile, ".claude": kindClaude, ".mcp.json": kindMCP}[path.Base(loc.rel)]
		if k == 0 {
			k = kindEditor
		}
		return []item{{loc.rel, k}}, nil
	case locClaude:
		var out []item
		for _, n := range []string{"settings.json", "settings.local.json"} {
			if exists(root, path.Join(loc.rel, n)) {
				out = append(out, item{path.Join(loc.rel, n), kindClaude})
			}
		}
		return out, nil
	case locVSCode:
		return dirItems(root, loc.rel, kindEditor)
	case locIdea:
		out, err := dirItems(root, path.Join(loc.rel, "runConfigurations"), kindEditor)
		if exists(root, path.Join(loc.rel, "workspace.xml")) {
			out = append(out, item{path.Join(loc.rel, "workspace.xml"), kindEditor})
		}
		return out, err
	}
	return nil, nil
}

// exists: something (of any kind) is at rel.
func exists(root *safefs.Dir, rel string) bool {
	_, err := root.Stat(rel)
	return err == nil
}

// dirItems lists the entries of the directory rel, which are not
// directories, as items of kind k.
func dirItems(root *safefs.Dir, rel string, k kind) ([]item, error) {
	names, err := root.ReadDirNames(rel, maxNames)
	if err != nil {
		return nil, capped(err)
	}
	slices.Sort(names)
	var out []item
	for _, n := range names {
		if info, err := root.Stat(path.Join(rel, n)); err == nil && info.Type != fs.ModeDir {
			out = append(out, item{path.Join(rel, n), k})
		}
	}
	return out, nil
}

// capped turns a directory over its cap into errIncomplete; a directory
// that is missing, or not one, has nothing in it.
func capped(err error) error {
	var se *safefs.Error
	if errors.As(err, &se) && strings.Contains(se.Problem, "more than") {
		return errIncomplete
	}
	return nil
}

// gitItems lists what git reads and runs in the git directory rel:
// config, config.worktree, commondir, every hook but the samples (git
// never runs *.sample), each linked worktree's config.worktree and
// commondir, and the same in each submodule's git directory under
// modules/.
func gitItems(root *safefs.Dir, rel string, depth int) ([]item, error) {
	var out []item
	var errs error
	for _, f := range []struct {
		name string
		k    kind
	}{{"config", kindGitConfig}, {"config.worktree", kindGitConfig}, {"commondir", kindCommondir}} {
		if exists(root, path.Join(rel, f.name)) {
			out = append(out, item{path.Join(rel, f.name), f.k})
		}
	}
	// A link (or anything but a directory) where git expects one of its
	// directories leads git elsewhere: held as what it is.
	for _, d := range []string{"hooks", "info", "worktrees", "modules"} {
		if info, err := root.Stat(path.Join(rel, d)); err == nil && info.Type != fs.ModeDir {
			out = append(out, item{path.Join(rel, d), kindHook})
		}
	}
	hooks, err := dirItems(root, path.Join(rel, "hooks"), kindHook)
	errs = errors.Join(errs, err)
	for _, h := range hooks {
		if !strings.HasSuffix(h.rel, ".sample") && !strings.HasSuffix(h.rel, heldSuffix) {
			out = append(out, h)
		}
	}
	wts, err := root.ReadDirNames(path.Join(rel, "worktrees"), maxNames)
	errs = errors.Join(errs, capped(err))
	slices.Sort(wts)
	for _, w := range wts {
		for _, f := range []struct {
			name string
			k    kind
		}{{"config.worktree", kindGitConfig}, {"commondir", kindCommondir}} {
			if p := path.Join(rel, "worktrees", w, f.name); exists(root, p) {
				out = append(out, item{p, f.k})
			}
		}
	}
	if depth < maxModuleDepth {
		mods, err := moduleDirs(root, path.Join(rel, "modules"), depth)
		errs = errors.Join(errs, err)
		for _, m := range mods {
			sub, err := gitItems(root, m, depth+1)
			errs = errors.Join(errs, err)
			out = append(out, sub...)
		}
	} else if exists(root, path.Join(rel, "modules")) {
		errs = errors.Join(errs, errIncomplete)
	}
	if errs != nil {
		errs = errIncomplete
	}
	return out, errs
}

// moduleDirs finds the git directories of submodules under rel (a
// submodule's name may hold slashes: modules/a/b): directories with a
// HEAD.
func moduleDirs(root *safefs.Dir, rel string, depth int) ([]string, error) {
	names, err := root.ReadDirNames(rel, maxNames)
	if err != nil {
		return nil, capped(err)
	}
	slices.Sort(names)
	var out []string
	var errs error
	for _, n := range names {
		sub := path.Join(rel, n)
		if info, err := root.Stat(sub); err != nil || info.Type != fs.ModeDir {
			continue
		}
		if exists(root, path.Join(sub, "HEAD")) {
			out = append(out, sub)
		} else if depth < maxModuleDepth {
			more, err := moduleDirs(root, sub, depth+1)
			errs = errors.Join(errs, err)
			out = append(out, more...)
		} else {
			errs = errIncomplete
		}
	}
	return out, errs
}

// rootLocations are the locations at the project's top, which the
// launch-time snapshot covers whether or not they exist.
func rootLocations(root *safefs.Dir) []location {
	var out []location
	for _, n := range []string{".git", ".claude", ".mcp.json", ".vscode", ".idea"} {
		k := locationKind(n, fs.ModeDir)
		if info, err := root.Stat(n); err == nil {
			k = locationKind(n, info.Type)
		} else if n == ".mcp.json" {
			k = locMCP
		}
		out = append(out, location{rel: n, kind: k})
	}
	return out
}

// locationKind is the location an entry of a surface name and type t
// makes.
func locationKind(name string, t fs.FileMode) locKind {
	k := surfaceNames[name]
	switch {
	case name == ".git" && t == 0:
		return locGitfile
	case k == locMCP && t == 0, k != locMCP && t == fs.ModeDir:
		return k
	}
	return locOdd
}
