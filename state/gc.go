package state

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/claudebox/claudebox/review"
	"golang.org/x/sys/unix"
)

// InstanceInfo describes one instance directory.
type InstanceInfo struct {
	ID  string `json:"id"`
	Dir string `json:"dir"`
	// Meta is nil when meta.json cannot be used; MetaErr says why.
	Meta    *Meta  `json:"meta,omitempty"`
	MetaErr string `json:"metaError,omitempty"`
	// ProjectExists is false when the project root is gone.
	ProjectExists bool `json:"projectExists"`
	// Live is true while a session holds the instance.
	Live bool `json:"live"`
	// Size is the disk usage in bytes (filled by ListInstances, and for
	// what gc removes).
	Size int64 `json:"size"`
	// Held counts the changes the review holds for the user (filled by
	// ListInstances); ReviewPending: a session's review is still to run
	// (it is live, or its launcher was killed).
	Held          int  `json:"held"`
	ReviewPending bool `json:"reviewPending"`
}

// InstancesDir is where a state directory keeps its instances.
func InstancesDir(stateDir string) string { return filepath.Join(stateDir, "instances") }

// ListInstances describes every instance, with its size, sorted by id.
func ListInstances(stateDir string) ([]InstanceInfo, error) {
	var out []InstanceInfo
	err := eachInstance(stateDir, func(info InstanceInfo, lock *os.File) {
		if lock != nil {
			lock.Close()
		}
		info.Size = diskUsage(info.Dir)
		store := review.Open(info.Dir)
		hs, _ := store.Holds()
		info.Held, info.ReviewPending = len(hs), store.Pending()
		out = append(out, info)
	})
	return out, err
}

// GCOptions tune GC.
type GCOptions struct {
	// DryRun reports what would be removed and removes nothing.
	DryRun bool
	// Force also removes instances whose meta.json is corrupt (never one
	// from a newer claudebox, never a live one).
	Force bool
}

// GCResult is what GC did.
type GCResult struct {
	Removed []InstanceInfo `json:"removed"`
	// Kept are the instances GC looked at twice: corrupt or from a newer
	// claudebox (MetaErr says which).
	Kept  []InstanceInfo `json:"kept"`
	Freed int64          `json:"freed"`
}

// GC removes the instances whose project root no longer exists. A live
// instance is never removed: GC takes the instance lock exclusively, which
// a running session holds shared. An instance is renamed away before it is
// deleted, so a launch racing with GC never opens a half-deleted one.
func GC(stateDir string, o GCOptions) (GCResult, error) {
	var res GCResult
	err := eachInstance(stateDir, func(info InstanceInfo, lock *os.File) {
		if lock != nil {
			defer lock.Close()
		}
		switch {
		case info.Live:
			return
		case info.Meta != nil && info.Meta.Version > MetaVersion:
			res.Kept = append(res.Kept, info)
			return
		case info.Meta == nil && !o.Force:
			res.Kept = append(res.Kept, info)
			return
		case info.Meta != nil && info.ProjectExists:
			return
		}
		info.Size = diskUsage(info.Dir)
		if !o.DryRun {
			if err := removeDir(info.Dir); err != nil {
				info.MetaErr = "not removed: " + err.Error()
				res.Kept = append(res.Kept, info)
				return
			}
		}
		res.Removed = append(res.Removed, info)
		res.Freed += info.Size
	})
	if err == nil && !o.DryRun {
		sweepLeftovers(InstancesDir(stateDir))
	}
	return res, err
}

// eachInstance calls fn for each instance with its lock held exclusively;
// lock is nil when a session holds it (info.Live) or it has none. fn closes
// the lock.
func eachInstance(stateDir string, fn func(InstanceInfo, *os.File)) error {
	dir := InstancesDir(stateDir)
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		info := InstanceInfo{ID: e.Name(), Dir: filepath.Join(dir, e.Name())}
		lock, lerr := TryLock(filepath.Join(info.Dir, lockName))
		info.Live = errors.Is(lerr, unix.EWOULDBLOCK)
		switch m, err := ReadMeta(info.Dir); {
		case err != nil:
			info.MetaErr = err.Error()
			if errors.Is(err, ErrFutureMeta) {
				info.Meta = m
			}
		case lerr != nil && !info.Live:
			info.MetaErr = "lock file: " + lerr.Error() // broken: treated as corrupt
		default:
			info.Meta = m
			_, serr := os.Stat(m.Project)
			info.ProjectExists = serr == nil
		}
		fn(info, lock)
	}
	return nil
}

// TryLock takes path's flock exclusively without waiting; path is a
// file or a directory. Closing the file releases it.
func TryLock(path string) (*os.File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// removeDir renames dir to a hidden trash name beside it, then deletes it.
func removeDir(dir string) error {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	trash := filepath.Join(filepath.Dir(dir), ".trash-"+filepath.Base(dir)+"-"+hex.EncodeToString(b))
	if err := os.Rename(dir, trash); err != nil {
		return err
	}
	return removeTree(trash)
}

// removeTree removes a tree that a sandbox could write, even when it made
// parts of it inaccessible (mode 000): each directory gets the user's rwx
// back before it is read. No link is followed: a directory is one by its
// own entry (lstat, d_type), and nothing writes the tree any more (it is
// renamed away, its lock held, no sandbox runs in it).
func removeTree(dir string) error {
	if err := os.RemoveAll(dir); err == nil {
		return nil
	}
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			_ = os.Chmod(p, 0o700)
		}
		return nil
	})
	return os.RemoveAll(dir)
}

// sweepLeftovers removes what crashed launches and gcs left: half-made
// instances (.new-*) older than a minute and trash (.trash-*).
func sweepLeftovers(dir string) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		name := e.Name()
		old := false
		if fi, err := e.Info(); err == nil {
			old = time.Since(fi.ModTime()) > time.Minute
		}
		if strings.HasPrefix(name, ".trash-") || strings.HasPrefix(name, ".new-") && old {
			_ = removeTree(filepath.Join(dir, name))
		}
	}
}

// diskUsage is the space dir takes, in bytes (allocated blocks).
func diskUsage(dir string) int64 {
	var total int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if fi, err := d.Info(); err == nil {
			if st, ok := fi.Sys().(*unix.Stat_t); ok {
				total += st.Blocks * 512
			} else {
				total += fi.Size()
			}
		}
		return nil
	})
	return total
}
