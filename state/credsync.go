package state

import (
	"bytes"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/claudebox/claudebox/launch"
)

// SyncInterval is how often CredentialSync looks at the two files.
const SyncInterval = 200 * time.Millisecond

// CredentialSync keeps Claude's login in an instance equal to the host's
// while a sandbox runs, in both directions.
//
// A bind mount of the host file cannot do it: rename(2) onto a mount point
// fails with EBUSY, so a writer that replaces the file atomically (write a
// temporary file, rename it over) would break, and a symlink would be
// replaced rather than followed. So the instance holds a plain copy, and
// the launcher looks at both files every SyncInterval: when one side holds
// a JSON object that differs from what was last synced, it is copied over
// atomically (temporary file + fsync + rename). A file caught mid-write is
// not valid JSON and waits for the next look. The host file is therefore
// always a complete JSON document, even when two sandboxes refresh at once
// (the last one wins).
//
// (inotify would react sooner, but closing an inotify instance waits for
// an SRCU grace period: 8-16 ms added to every launch, measured here.)
type CredentialSync struct {
	host, inst string // the two credential files
	last       []byte // what both held after the last sync
	stop       chan struct{}
	done       sync.WaitGroup
}

// StartCredentialSync reconciles the two files (the newer valid one wins)
// and starts watching. Stop it when the sandbox exits.
func StartCredentialSync(hostHome, instHome string) (*CredentialSync, error) {
	c := &CredentialSync{
		host: launch.CredentialsPath(hostHome),
		inst: launch.CredentialsPath(instHome),
		stop: make(chan struct{}),
	}
	for _, f := range []string{c.host, c.inst} {
		if err := os.MkdirAll(filepath.Dir(f), 0o700); err != nil {
			return nil, err
		}
	}
	c.sync()
	c.done.Add(1)
	go c.loop()
	return c, nil
}

// Stop ends the watch and copies a last change from the sandbox home.
func (c *CredentialSync) Stop() {
	close(c.stop)
	c.done.Wait()
	c.sync()
}

func (c *CredentialSync) loop() {
	defer c.done.Done()
	tick := time.NewTicker(SyncInterval)
	defer tick.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-tick.C:
			c.sync()
		}
	}
}

// sync copies the side that changed since the last sync over the other;
// when both changed, the newer.
func (c *CredentialSync) sync() {
	host, hostT := readCredentials(c.host)
	inst, instT := readCredentials(c.inst)
	hostNew := host != nil && !bytes.Equal(host, c.last)
	instNew := inst != nil && !bytes.Equal(inst, c.last)
	switch {
	case instNew && (!hostNew || instT.After(hostT)):
		if !bytes.Equal(inst, host) && WriteFileAtomic(c.host, inst, 0o600) != nil {
			return
		}
		c.last = inst
	case hostNew:
		if !bytes.Equal(host, inst) && WriteFileAtomic(c.inst, host, 0o600) != nil {
			return
		}
		c.last = host
	}
}

// readCredentials returns a credentials file's content when it is a JSON
// object (nil when missing, empty, torn or malformed) and its mtime.
func readCredentials(path string) ([]byte, time.Time) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, time.Time{}
	}
	b, err := os.ReadFile(path)
	if err != nil || !launch.IsCredentials(b) {
		return nil, time.Time{}
	}
	return b, fi.ModTime()
}
