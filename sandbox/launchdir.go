package sandbox

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/claudebox/claudebox/bundle"
	"github.com/claudebox/claudebox/network"
	"github.com/claudebox/claudebox/state"
	"github.com/opencontainers/runc/libcontainer"
	"golang.org/x/sys/unix"
)

// idPrefix starts the name of every launch directory.
const idPrefix = "cb-"

// launchDir is the runtime directory of one launch: the rootfs and the
// libcontainer state. The launcher holds an flock on it while it lives, so
// a directory whose lock is free belongs to a launcher that died.
type launchDir struct {
	id, path string
	lock     *os.File
}

func newLaunchDir(runtimeDir string) (*launchDir, error) {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	d := &launchDir{id: idPrefix + hex.EncodeToString(b)}
	d.path = filepath.Join(runtimeDir, d.id)
	// Made and locked under a name the sweep leaves to its maker while
	// the maker lives (the name carries its pid), then renamed into place
	// with the lock held: a concurrent sweep never sees it unlocked.
	tmp := filepath.Join(runtimeDir, ".new-"+d.id+"-"+strconv.Itoa(os.Getpid()))
	if err := os.Mkdir(tmp, 0o700); err != nil {
		return nil, err
	}
	var err error
	if d.lock, err = state.TryLock(tmp); err != nil {
		os.Remove(tmp)
		return nil, err
	}
	if err := os.Rename(tmp, d.path); err != nil {
		d.lock.Close()
		os.Remove(tmp)
		return nil, err
	}
	return d, nil
}

// skeletonPrefix starts the name of the shared rootfs skeletons.
const skeletonPrefix = "rootfs-"

// skeleton returns the directory of the rootfs skeleton k in the runtime
// directory, making it when it is not there yet. It is made whole under a
// temporary name and renamed into place, so no launch sees it half-made;
// once there it is never written again (the rootfs is read-only in the
// sandbox, and every mount point is in it already). Of two launches making
// it at once, the second's rename fails and it uses the first's.
func skeleton(runtimeDir string, k bundle.Skeleton) (string, error) {
	dir := filepath.Join(runtimeDir, skeletonPrefix+k.Key())
	if fi, err := os.Lstat(dir); err == nil && fi.IsDir() {
		return dir, nil
	}
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	tmp := filepath.Join(runtimeDir, ".new-"+skeletonPrefix+hex.EncodeToString(b))
	if err := k.Make(tmp); err != nil {
		os.RemoveAll(tmp)
		return "", err
	}
	if err := os.Rename(tmp, dir); err != nil {
		os.RemoveAll(tmp)
		if fi, serr := os.Lstat(dir); serr != nil || !fi.IsDir() {
			return "", err
		}
	}
	return dir, nil
}

// remove deletes the directory, then releases the lock.
func (d *launchDir) remove() {
	os.RemoveAll(d.path)
	d.lock.Close()
}

// SweepStale clears the runtime leftovers of launchers that died before
// their clean-up and returns how many launches it cleared.
func SweepStale() (int, error) {
	rt, err := state.RuntimeDir()
	if err != nil {
		return 0, err
	}
	return sweepStale(rt), nil
}

// sweepStale removes what launchers killed before their clean-up left in
// runtimeDir: any sandbox still running is destroyed (processes, cgroups),
// then its directory is removed. Directories of live launchers are locked
// and left alone.
func sweepStale(runtimeDir string) int {
	entries, err := os.ReadDir(runtimeDir)
	if err != nil {
		return 0
	}
	n := 0
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".new-") {
			// A launcher died between making and renaming its directory
			// (the name ends in its pid, gone now), or a skeleton.
			fi, err := e.Info()
			if makerGone(e.Name()) || err == nil && time.Since(fi.ModTime()) > time.Minute {
				os.RemoveAll(filepath.Join(runtimeDir, e.Name()))
			}
			continue
		}
		if !e.IsDir() || !strings.HasPrefix(e.Name(), idPrefix) {
			continue
		}
		path := filepath.Join(runtimeDir, e.Name())
		lock, err := state.TryLock(path)
		if err != nil {
			continue // live, or not ours to judge
		}
		// Unreadable or missing state: the directory goes all the same.
		if ctr, err := libcontainer.Load(path, e.Name()); err == nil {
			_ = ctr.Signal(unix.SIGKILL)
			_ = ctr.Destroy()
		}
		network.Release(filepath.Join(path, "net"), e.Name())
		os.RemoveAll(path)
		lock.Close()
		n++
	}
	return n
}

// makerGone reports whether a launch directory in the making
// (.new-cb-ID-PID) belongs to a launcher that is no longer running.
func makerGone(name string) bool {
	rest, ok := strings.CutPrefix(name, ".new-"+idPrefix)
	if !ok {
		return false
	}
	i := strings.LastIndex(rest, "-")
	pid, err := strconv.Atoi(rest[i+1:])
	if i < 0 || err != nil || pid <= 0 {
		return false
	}
	return unix.Kill(pid, 0) == unix.ESRCH
}
