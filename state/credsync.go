package state

import (
	"bytes"
	"encoding/json"
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
// while a sandbox runs, in both directions; only the login (the
// credentials file's claudeAiOauth) goes back to the host, where the
// file's other keys (MCP servers' OAuth tokens, other grants) are kept as
// they are. Into the instance go the login and the OAuth tokens of the MCP
// servers named for this launch, and no other of the host's keys
// (CarryCredentials).
//
// A bind mount of the host file cannot do it: rename(2) onto a mount point
// fails with EBUSY, so a writer that replaces the file atomically (write a
// temporary file, rename it over) would break, and a symlink would be
// replaced rather than followed. So the instance holds its own file, and
// the launcher looks at both files every SyncInterval: when one side holds
// a login that differs from what was last synced, it is written into the
// other atomically (temporary file + fsync + rename). A file caught
// mid-write is not valid JSON and waits for the next look. The host file
// is therefore always complete, even when two sandboxes refresh at once
// (the last one wins).
//
// The instance's copy is the sandbox's to write: it is read through the
// instance Home (no links, regular, at most MaxCredentials), and only a
// login of Claude Code's shape (launch.IsCredentials) is taken from it.
// Anything else never reaches the host file.
//
// (inotify would react sooner, but closing an inotify instance waits for
// an SRCU grace period: 8-16 ms added to every launch, measured here.)
type CredentialSync struct {
	host string // the host's credentials file
	home *Home  // the instance home holding the copy
	last []byte // the login both held after the last sync (compact)
	stop chan struct{}
	done sync.WaitGroup
	// ticks, when not nil, replaces the SyncInterval ticker, and each
	// sync it starts is acknowledged on synced: a test steps the loop.
	ticks  <-chan time.Time
	synced chan<- struct{}
}

// StartCredentialSync carries the credentials in (CarryCredentials: the
// MCP servers whose keys are in mcp, launch.Setup.MCPCredentialKeys), reconciles the two logins (the newer valid
// one wins) and starts watching. An instance file that is not Claude
// Code's credentials (a link, a FIFO, too large, another shape) is moved
// aside first, with a note in home.Notes. Stop it when the sandbox exits.
func StartCredentialSync(hostHome string, home *Home, mcp []string) (*CredentialSync, error) {
	return startCredentialSync(hostHome, home, mcp, nil, nil)
}

func startCredentialSync(hostHome string, home *Home, mcp []string, ticks <-chan time.Time, synced chan<- struct{}) (*CredentialSync, error) {
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
	if err := c.carry(mcp); err != nil {
		return nil, err
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

// carry writes the instance's file as CarryCredentials makes it, when
// that differs.
func (c *CredentialSync) carry(mcp []string) error {
	host, _, _ := readHostCredentials(c.host)
	b, _, err := c.home.credentials()
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	inst := credObject(b)
	want := CarryCredentials(host, inst, mcp)
	if len(want) == 0 && b == nil {
		return nil
	}
	out, err := json.Marshal(want)
	if err != nil || bytes.Equal(out, b) {
		return err
	}
	if b != nil {
		var cur bytes.Buffer
		if json.Compact(&cur, b) == nil && bytes.Equal(cur.Bytes(), out) {
			return nil
		}
	}
	return c.home.writeCredentials(out)
}

// sync writes the login of the side that changed since the last sync into
// the other; when both changed, the newer's.
func (c *CredentialSync) sync() {
	host, hostT, hostOK := readHostCredentials(c.host)
	b, instT, _ := c.home.credentials()
	inst := credObject(b)
	hostLogin, instLogin := loginOf(host), loginOf(inst)
	hostNew := hostLogin != nil && !bytes.Equal(hostLogin, c.last)
	instNew := instLogin != nil && !bytes.Equal(instLogin, c.last)
	switch {
	case instNew && (!hostNew || instT.After(hostT)):
		if !bytes.Equal(instLogin, hostLogin) {
			if !hostOK {
				return // torn or not Claude's: wait for it
			}
			if writeLogin(host, instLogin, func(b []byte) error { return WriteFileAtomic(c.host, b, 0o600) }) != nil {
				return
			}
		}
		c.last = instLogin
	case hostNew:
		if !bytes.Equal(hostLogin, instLogin) {
			if b != nil && inst == nil {
				return // torn: wait for it
			}
			if writeLogin(inst, hostLogin, c.home.writeCredentials) != nil {
				return
			}
		}
		c.last = hostLogin
	}
}

// writeLogin writes obj (nil: an empty object) with its login replaced.
func writeLogin(obj map[string]json.RawMessage, login []byte, write func([]byte) error) error {
	out := map[string]json.RawMessage{}
	for k, v := range obj {
		out[k] = v
	}
	out[loginKey] = login
	b, err := json.Marshal(out)
	if err != nil {
		return err
	}
	return write(b)
}

// readHostCredentials returns the host's credentials object and its
// mtime; ok is false when the file exists but is torn, malformed, not a
// file or too large (nothing is written over it then). A missing file is
// an empty object.
func readHostCredentials(path string) (obj map[string]json.RawMessage, mtime time.Time, ok bool) {
	b, mtime, err := safefs.ReadTrusted(path, MaxCredentials)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]json.RawMessage{}, time.Time{}, true
	}
	if err != nil {
		return nil, time.Time{}, false
	}
	obj = credObject(b)
	return obj, mtime, obj != nil
}
