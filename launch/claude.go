package launch

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
)

// FindClaude looks claude up in h's PATH, as a launch does: the command
// to run and, when it lives under the home, the read-only mount of its
// install tree.
func FindClaude(h Host) (string, *Mount, error) {
	return findClaude(envValue(h.Environ, "PATH"), h.canonicalHome())
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
