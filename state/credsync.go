package state

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"unsafe"

	"github.com/claudebox/claudebox/launch"
	"golang.org/x/sys/unix"
)

const credentialsName = ".credentials.json"

// CredentialSync keeps Claude's login in an instance equal to the host's
// while a sandbox runs, in both directions.
//
// A bind mount of the host file cannot do it: rename(2) onto a mount point
// fails with EBUSY, so a writer that replaces the file atomically (write a
// temporary file, rename it over) would break, and a symlink would be
// replaced rather than followed. So the instance holds a plain copy and the
// launcher watches both directories with inotify: whenever one side's file
// is closed after writing or renamed into place and holds a JSON object
// that differs from the other side, it is copied over atomically (temporary
// file + fsync + rename). The host file is therefore always a complete
// JSON document, even when two sandboxes refresh at once (the last wins).
type CredentialSync struct {
	host, inst string // the two ~/.claude directories
	watch      *os.File
	done       sync.WaitGroup
	mu         sync.Mutex
}

// StartCredentialSync reconciles the two files (the newer valid one wins)
// and starts watching. Stop it when the sandbox exits.
func StartCredentialSync(hostHome, instHome string) (*CredentialSync, error) {
	c := &CredentialSync{host: filepath.Join(hostHome, ".claude"), inst: filepath.Join(instHome, ".claude")}
	for _, d := range []string{c.host, c.inst} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
	}
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, err
	}
	c.watch = os.NewFile(uintptr(fd), "inotify")
	wds := map[int32]string{}
	for _, d := range []string{c.host, c.inst} {
		wd, err := unix.InotifyAddWatch(fd, d, unix.IN_CLOSE_WRITE|unix.IN_MOVED_TO)
		if err != nil {
			c.watch.Close()
			return nil, err
		}
		wds[int32(wd)] = d
	}
	c.reconcile()
	c.done.Add(1)
	go c.loop(wds)
	return c, nil
}

// Stop ends the watch and copies a last change from the sandbox home.
func (c *CredentialSync) Stop() {
	c.watch.Close()
	c.done.Wait()
	c.reconcile()
}

func (c *CredentialSync) loop(wds map[int32]string) {
	defer c.done.Done()
	buf := make([]byte, 64*(unix.SizeofInotifyEvent+unix.NAME_MAX+1))
	for {
		n, err := c.watch.Read(buf)
		if err != nil {
			return // closed by Stop
		}
		for off := 0; off+unix.SizeofInotifyEvent <= n; {
			ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
			name := string(bytes.TrimRight(buf[off+unix.SizeofInotifyEvent:off+unix.SizeofInotifyEvent+int(ev.Len)], "\x00"))
			off += unix.SizeofInotifyEvent + int(ev.Len)
			if name != credentialsName {
				continue
			}
			switch wds[ev.Wd] {
			case c.host:
				c.copy(c.host, c.inst)
			case c.inst:
				c.copy(c.inst, c.host)
			}
		}
	}
}

// reconcile copies the newer valid file over the other.
func (c *CredentialSync) reconcile() {
	h, errH := os.Stat(filepath.Join(c.host, credentialsName))
	i, errI := os.Stat(filepath.Join(c.inst, credentialsName))
	switch {
	case errI == nil && (errH != nil || i.ModTime().After(h.ModTime())):
		c.copy(c.inst, c.host)
	case errH == nil:
		c.copy(c.host, c.inst)
	}
}

// copy writes src's credentials to dst when they are a JSON object that
// dst does not already hold.
func (c *CredentialSync) copy(src, dst string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	b, err := os.ReadFile(filepath.Join(src, credentialsName))
	if err != nil || !launch.IsCredentials(b) {
		return // missing, or mid-write: the closing write brings another event
	}
	to := filepath.Join(dst, credentialsName)
	if old, err := os.ReadFile(to); err == nil && bytes.Equal(old, b) {
		return
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return
	}
	_ = WriteFileAtomic(to, b, 0o600)
}
