package launch

import (
	"path/filepath"
	"slices"
)

// pinAncestors makes every directory between a protected path and the
// mount it lies in (the project, a worktree's shared git directory) a
// mount point inside (Mount.Pin: bound onto itself). A mount point cannot
// be renamed or removed (EBUSY): without the pins, `mv .git .git.old`
// would carry the read-only mounts away, and a new .git with a planted
// config would take its place. A pin has the mode of the mount it lies
// in. Hidden paths are not pinned.
func pinAncestors(mounts []Mount, hidden []string) []Mount {
	at := map[string]int{}
	for i, m := range mounts {
		at[m.Dest()] = i
	}
	// The mount p lies in: the nearest of its parents mounted.
	enclosing := func(p string) (Mount, bool) {
		for q := filepath.Dir(p); ; q = filepath.Dir(q) {
			if j, ok := at[q]; ok {
				return mounts[j], true
			}
			if q == "/" {
				return Mount{}, false
			}
		}
	}
	n := len(mounts)
	for i := 0; i < n; i++ {
		if !mounts[i].Protected && !mounts[i].Pin {
			continue
		}
		if outer, ok := enclosing(mounts[i].Dest()); ok && mounts[i].Pin {
			mounts[i].Mode = outer.Mode
		}
		for d := filepath.Dir(mounts[i].Dest()); d != "/"; d = filepath.Dir(d) {
			if j, ok := at[d]; ok {
				if m := mounts[j]; !m.Protected && !m.Pin {
					break // the mount it lies in: pinned all the way
				}
				continue
			}
			outer, ok := enclosing(d)
			if !ok || slices.Contains(hidden, d) {
				break
			}
			at[d] = len(mounts)
			mounts = append(mounts, Mount{Path: d, Mode: outer.Mode, Why: WhyPin, Pin: true})
		}
	}
	return mounts
}
