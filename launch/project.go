package launch

import (
	"fmt"
	"os"
	"path/filepath"
)

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
