package sandbox

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"

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
	if err := os.Mkdir(d.path, 0o700); err != nil {
		return nil, err
	}
	var err error
	if d.lock, err = lockDir(d.path); err != nil {
		os.RemoveAll(d.path)
		return nil, err
	}
	return d, nil
}

// remove deletes the directory, then releases the lock.
func (d *launchDir) remove() {
	os.RemoveAll(d.path)
	d.lock.Close()
}

// lockDir takes the directory's flock without waiting.
func lockDir(path string) (*os.File, error) {
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

// sweepStale removes what launchers killed before their clean-up left in
// runtimeDir: any sandbox still running is destroyed (processes, cgroups),
// then its directory is removed. Directories of live launchers are locked
// and left alone.
func sweepStale(runtimeDir string) {
	entries, err := os.ReadDir(runtimeDir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), idPrefix) {
			continue
		}
		path := filepath.Join(runtimeDir, e.Name())
		lock, err := lockDir(path)
		if err != nil {
			continue // live, or not ours to judge
		}
		// Unreadable or missing state: the directory goes all the same.
		if ctr, err := libcontainer.Load(path, e.Name()); err == nil {
			_ = ctr.Signal(unix.SIGKILL)
			_ = ctr.Destroy()
		}
		os.RemoveAll(path)
		lock.Close()
	}
}
