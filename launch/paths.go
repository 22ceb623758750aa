package launch

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
)

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
