package state

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/claudebox/claudebox/internal/safefs"
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
// a login that differs from what was last synced, it is copied over
// atomically (temporary file + fsync + rename). A file caught mid-write is
// not valid JSON and waits for the next look. The host file is therefore
// always a complete login, even when two sandboxes refresh at once (the
// last one wins).
//
// The instance's copy is the sandbox's to write: it is read through the
// instance Home (no links, regular, at most MaxCredentials) and copied to
// the host only when it is a Claude Code login (launch.IsCredentials).
// Anything else never reaches the host file.
//
// (inotify would react sooner, but closing an inotify instance waits for
// an SRCU grace period: 8-16 ms added to every launch, measured here.)
type CredentialSync struct {
	host string // the host's credentials file
	home *Home  // the instance home holding the copy
	last []byte // what both held after the last sync
	stop chan struct{}
	done sync.WaitGroup
	// ticks, when not nil, replaces the SyncInterval ticker, and each
	// sync it starts is acknowledged on synced: a test steps the loop.
	ticks  <-chan time.Time
	synced chan<- struct{}
}

// StartCredentialSync reconciles the two files (the newer valid one wins)
// and starts watching. An instance copy that is not a usable login (a
// link, a FIFO, too large, not a login) is moved aside first, with a note
// in home.Notes. Stop it when the sandbox exits.
func StartCredentialSync(hostHome string, home *Home) (*CredentialSync, error) {
	return startCredentialSync(hostHome, home, nil, nil)
}

func startCredentialSync(hostHome string, home *Home, ticks <-chan time.Time, synced chan<- struct{}) (*CredentialSync, error) {
	c := &CredentialSync{
		host:   launch.CredentialsPath(hostHome),
		home:   home,
		stop:   make(chan struct{}),
		ticks:  ticks,
		synced: synced,
	}
	if err := os.MkdirAll(filepath.Dir(c.host), 0o700); err != nil {
		return nil, err
	}
	if _, _, err := home.credentials(); err != nil && !errors.Is(err, fs.ErrNotExist) {
		if err := home.moveAside(CredentialsFile, err); err != nil {
			return nil, err
		}
		home.Notes[len(home.Notes)-1] += "; your host login was not changed"
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
	ticks := c.ticks
	if ticks == nil {
		tick := time.NewTicker(SyncInterval)
		defer tick.Stop()
		ticks = tick.C
	}
	for {
		select {
		case <-c.stop:
			return
		case <-ticks:
			c.sync()
			if c.synced != nil {
				c.synced <- struct{}{}
			}
		}
	}
}

// sync copies the side that changed since the last sync over the other;
// when both changed, the newer.
func (c *CredentialSync) sync() {
	host, hostT := readHostCredentials(c.host)
	inst, instT, _ := c.home.credentials()
	hostNew := host != nil && !bytes.Equal(host, c.last)
	instNew := inst != nil && !bytes.Equal(inst, c.last)
	switch {
	case instNew && (!hostNew || instT.After(hostT)):
		if !bytes.Equal(inst, host) && WriteFileAtomic(c.host, inst, 0o600) != nil {
			return
		}
		c.last = inst
	case hostNew:
		if !bytes.Equal(host, inst) && c.home.writeCredentials(host) != nil {
			return
		}
		c.last = host
	}
}

// readHostCredentials returns the host's login and its mtime (nil when
// missing, torn, malformed, not a file or too large: never copied).
func readHostCredentials(path string) ([]byte, time.Time) {
	b, mtime, err := safefs.ReadTrusted(path, MaxCredentials)
	if err != nil || !launch.IsCredentials(b) {
		return nil, time.Time{}
	}
	return b, mtime
}
