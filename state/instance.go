package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/claudebox/claudebox/internal/safefs"
	"github.com/claudebox/claudebox/launch"
	"golang.org/x/sys/unix"
)

// MetaVersion is the meta.json format this claudebox writes and reads.
const MetaVersion = 1

// Caps on what claudebox reads: meta.json (it writes ~150 bytes), and the
// host's Claude settings and ~/.claude.json that seed a new instance.
const (
	maxMeta      = 64 << 10
	maxHostState = 64 << 20
)

// Files of an instance directory.
const (
	metaName = "meta.json"
	// lockName is flocked shared by live sessions, exclusively by gc; its
	// modification time is when a session last began.
	lockName = "lock"
	homeName = "home"
)

var (
	// ErrFutureMeta: meta.json was written by a newer claudebox.
	ErrFutureMeta = errors.New("instance written by a newer claudebox")
	// ErrBadMeta: meta.json is unreadable or corrupt.
	ErrBadMeta = errors.New("instance meta.json is corrupt")
)

// Meta is an instance's meta.json.
type Meta struct {
	Version int `json:"version"`
	// Project is the canonical project root the instance belongs to.
	Project string    `json:"project"`
	Created time.Time `json:"created"`
	// LastUsed is when a session last began: as ReadMeta reads it, the
	// later of meta.json's and the lock file's modification time, which
	// each session sets (meta.json is written once, at creation).
	LastUsed time.Time `json:"lastUsed"`
}

// ReadMeta reads and checks an instance's meta.json.
func ReadMeta(dir string) (*Meta, error) {
	path := filepath.Join(dir, metaName)
	b, _, err := safefs.ReadTrusted(path, maxMeta)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %w", ErrBadMeta, err)
	}
	m, err := parseMeta(path, b)
	if err == nil {
		if fi, serr := os.Stat(filepath.Join(dir, lockName)); serr == nil && fi.ModTime().After(m.LastUsed) {
			m.LastUsed = fi.ModTime().UTC()
		}
	}
	return m, err
}

// parseMeta checks a meta.json's content; path is for messages.
func parseMeta(path string, b []byte) (*Meta, error) {
	var m Meta
	if err := json.Unmarshal(b, &m); err != nil || m.Version == 0 || m.Project == "" {
		if err == nil {
			err = errors.New("no version or project")
		}
		return nil, fmt.Errorf("%w: %s: %w", ErrBadMeta, path, err)
	}
	if m.Version > MetaVersion {
		return &m, fmt.Errorf("%w: %s has version %d, this claudebox knows %d", ErrFutureMeta, path, m.Version, MetaVersion)
	}
	return &m, nil
}

func writeMeta(dir string, m *Meta) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return WriteFileAtomic(filepath.Join(dir, metaName), append(b, '\n'), 0o600)
}

// Session is a live use of an instance. It holds the instance's lock
// shared, so gc (which needs it exclusive) never removes the instance of a
// running sandbox; any number of sessions share one instance.
type Session struct {
	Instance *launch.Instance
	lock     *os.File
}

// Close ends the session.
func (s *Session) Close() error { return s.lock.Close() }

// EnsureInstance creates the instance if needed and records its use,
// without keeping a session (for export-bundle).
func EnsureInstance(inst *launch.Instance, hostHome string) error {
	s, err := OpenSession(inst, hostHome)
	if err != nil {
		return err
	}
	return s.Close()
}

// OpenSession creates the instance if needed (seeding Claude's state from
// hostHome), locks it for the session and records its use. It is safe
// against concurrent launches and a concurrent gc.
func OpenSession(inst *launch.Instance, hostHome string) (*Session, error) {
	parent := filepath.Dir(inst.Dir)
	if err := os.MkdirAll(parent, 0o700); err != nil {
		return nil, instanceError(inst, err)
	}
	for range 5 {
		if err := create(inst, hostHome); err != nil {
			return nil, instanceError(inst, err)
		}
		s, err := lockSession(inst)
		if errors.Is(err, errGone) {
			continue // removed by gc between create and lock: make it anew
		}
		if err != nil {
			return nil, instanceError(inst, err)
		}
		if err := touch(inst.Dir); err != nil {
			s.Close()
			return nil, instanceError(inst, err)
		}
		return s, nil
	}
	return nil, instanceError(inst, errors.New("it keeps being removed while opening (is a gc looping?)"))
}

var errGone = errors.New("instance removed")

func instanceError(inst *launch.Instance, err error) error {
	var hint string
	switch {
	case errors.Is(err, ErrFutureMeta):
		hint = "upgrade claudebox; this version will not touch that instance"
	case errors.Is(err, ErrBadMeta):
		hint = "move the file away (claudebox writes a new one): mv " + filepath.Join(inst.Dir, metaName) + "{,.bad}"
	case errors.Is(err, fs.ErrPermission):
		hint = "make it writable by you: chmod u+rwx " + inst.Dir
	}
	err = fmt.Errorf("instance %s (%s): %w", inst.ID, inst.Dir, err)
	if hint == "" {
		return err
	}
	return &launch.HintError{Err: err, Hint: hint}
}

// create makes the instance directory whole or not at all: it is built
// under a temporary name and renamed into place; when another launch wins
// the race, its instance is used.
func create(inst *launch.Instance, hostHome string) error {
	if _, err := os.Stat(inst.Dir); err == nil || !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(inst.Dir), ".new-"+inst.ID+"-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp) // a no-op once renamed
	if err := seed(tmp, inst.Root, hostHome); err != nil {
		return err
	}
	now := time.Now().UTC()
	if err := writeMeta(tmp, &Meta{Version: MetaVersion, Project: inst.Root, Created: now, LastUsed: now}); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(tmp, lockName), nil, 0o600); err != nil {
		return err
	}
	err = os.Rename(tmp, inst.Dir)
	if errors.Is(err, syscall.EEXIST) || errors.Is(err, syscall.ENOTEMPTY) {
		return nil // another launch made it first
	}
	return err
}

// seed gives a new instance its home: an empty ~/.claude (the user's
// settings are layered in at each launch, Home.Prepare), and the host's
// ~/.claude.json (onboarding, account) with the per-project entries of
// other projects and every MCP server left out.
func seed(dir, project, hostHome string) error {
	claude := filepath.Join(dir, homeName, ".claude")
	if err := os.MkdirAll(claude, 0o700); err != nil {
		return err
	}
	b, _, err := safefs.ReadTrusted(filepath.Join(hostHome, ".claude.json"), maxHostState)
	if err != nil {
		return nil // no host state: Claude starts its onboarding
	}
	if b, err = onlyProject(b, project); err != nil {
		return nil // malformed on the host: not carried over
	}
	return WriteFileAtomic(filepath.Join(dir, homeName, ".claude.json"), b, 0o600)
}

// onlyProject drops from a ~/.claude.json the "projects" entries of other
// projects (their paths, tool permissions and session ids), and the MCP
// servers, of the user scope and of this project's local scope: they come
// in only when named (launch.Setup.MCP).
func onlyProject(b []byte, project string) ([]byte, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(b, &top); err != nil {
		return nil, err
	}
	delete(top, "mcpServers")
	if raw, ok := top["projects"]; ok {
		var projects map[string]map[string]json.RawMessage
		if err := json.Unmarshal(raw, &projects); err != nil {
			return nil, err
		}
		for p, entry := range projects {
			if p != project && !strings.HasPrefix(p, project+"/") {
				delete(projects, p)
			}
			delete(entry, "mcpServers")
		}
		kept, err := json.Marshal(projects)
		if err != nil {
			return nil, err
		}
		top["projects"] = kept
	}
	return json.MarshalIndent(top, "", "  ")
}

// lockSession takes the instance lock shared and checks that the lock
// taken is the one of the instance now at inst.Dir (gc renames an instance
// away before removing it).
func lockSession(inst *launch.Instance) (*Session, error) {
	path := filepath.Join(inst.Dir, lockName)
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, errGone
	}
	if err != nil {
		return nil, err
	}
	if err := flock(f, unix.LOCK_SH); err != nil {
		f.Close()
		return nil, err
	}
	if !sameFile(f, path) {
		f.Close()
		return nil, errGone
	}
	m, err := ReadMeta(inst.Dir)
	if err != nil {
		f.Close()
		if errors.Is(err, fs.ErrNotExist) {
			return nil, errGone
		}
		return nil, err
	}
	if m.Project != inst.Root {
		f.Close()
		return nil, fmt.Errorf("%w: it belongs to %s", ErrBadMeta, m.Project)
	}
	return &Session{Instance: inst, lock: f}, nil
}

// touch records the instance's last use.
func touch(dir string) error {
	// The session writes in the instance directory (the review, the
	// network's log): a directory it cannot write is said now, and how
	// to mend it.
	if err := unix.Access(dir, unix.W_OK|unix.X_OK); err != nil {
		return &fs.PathError{Op: "write", Path: dir, Err: err}
	}
	// Not a rewrite of meta.json: a synced write at every launch, for
	// the time `claudebox ls` shows.
	now := time.Now()
	return os.Chtimes(filepath.Join(dir, lockName), now, now)
}

func flock(f *os.File, how int) error {
	for {
		err := unix.Flock(int(f.Fd()), how)
		if !errors.Is(err, unix.EINTR) {
			return err
		}
	}
}

// sameFile reports whether the open file is the one now at path.
func sameFile(f *os.File, path string) bool {
	a, err1 := f.Stat()
	b, err2 := os.Stat(path)
	return err1 == nil && err2 == nil && os.SameFile(a, b)
}
