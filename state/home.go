package state

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/claudebox/claudebox/audit"
	"github.com/claudebox/claudebox/internal/safefs"
	"github.com/claudebox/claudebox/launch"
)

// Caps on the files claudebox reads from an instance home. A file above
// its cap is not Claude's and is moved aside.
const (
	MaxCredentials = launch.MaxCredentials
	MaxSandboxMD   = 64 << 10 // ~/.claude/SANDBOX.md: claudebox writes ~2 KiB
	MaxClaudeMD    = 1 << 20  // ~/.claude/CLAUDE.md: the user's and Claude's notes
)

// Paths in an instance home that claudebox itself reads or writes.
const (
	ClaudeDir       = ".claude"
	CredentialsFile = ".claude/.credentials.json"
	SandboxMDFile   = ".claude/SANDBOX.md"
	ClaudeMDFile    = ".claude/CLAUDE.md"
)

// Home is an instance's home opened for the launcher: the directory the
// sandbox sees as $HOME, which it can write, so everything in it is
// hostile input. Every access goes through package safefs: no link in it
// is followed, files are read only when regular and small, and what is in
// the way is moved aside with a note for the user, never followed.
type Home struct {
	dir *safefs.Dir
	// Notes say what was found broken and repaired, for the user.
	Notes []string
}

// OpenHome opens inst's home. The instance directory is claudebox's own
// (the sandbox never sees it); its home is not.
func OpenHome(inst *launch.Instance) (*Home, error) {
	root, err := safefs.OpenRoot(inst.Dir, inst.Dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	h := &Home{}
	if err := h.note(root.Repair(homeName, true, 0o700)); err != nil {
		return nil, err
	}
	if h.dir, err = root.OpenDir(homeName); err != nil {
		return nil, err
	}
	h.dir.SetName("~")
	return h, h.note(h.dir.Repair(ClaudeDir, true, 0o700))
}

// Close closes the home.
func (h *Home) Close() error { return h.dir.Close() }

func (h *Home) note(notes []string, err error) error {
	for _, n := range notes {
		h.Notes = append(h.Notes, "instance home: "+n)
	}
	return err
}

// MountPoint makes rel (a path in the home) usable as the mount point of
// a directory (dir) or a file, so that the runtime finds it made and
// follows nothing the sandbox left there.
func (h *Home) MountPoint(rel string, dir bool) error {
	return h.note(h.dir.Repair(rel, dir, 0o755))
}

// Update replaces the small file rel (at most max bytes) with what update
// makes of its content (nil when missing), writing only when that
// differs. A file that cannot be used as it is (a link, a FIFO, a
// directory, too large, unreadable) is moved aside first, with a note.
func (h *Home) Update(rel string, max int64, update func(old []byte) []byte) error {
	old, _, err := h.dir.ReadFile(rel, max)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		if err := h.moveAside(rel, err); err != nil {
			return err
		}
		old = nil
	}
	data := update(old)
	if old != nil && bytes.Equal(old, data) {
		return nil
	}
	return h.dir.WriteFile(rel, data, 0o644)
}

// moveAside moves rel, found unusable (why), out of the way.
func (h *Home) moveAside(rel string, why error) error {
	var bad *safefs.Error
	if !errors.As(why, &bad) {
		return why
	}
	moved, err := h.dir.MoveAside(rel)
	if err != nil {
		return err
	}
	h.Notes = append(h.Notes, "instance home: "+bad.Error()+": moved to "+filepath.Join(filepath.Dir(rel), moved))
	return nil
}

// credentials reads the instance's copy of Claude's login, with its
// modification time; err says why it is not a usable login (nil content
// and err: missing).
func (h *Home) credentials() ([]byte, time.Time, error) {
	b, mtime, err := h.dir.ReadFile(CredentialsFile, MaxCredentials)
	if err != nil {
		return nil, time.Time{}, err
	}
	if !launch.IsCredentials(b) {
		return nil, time.Time{}, &safefs.Error{Path: h.dir.Name() + "/" + CredentialsFile, Problem: "is not a Claude Code login"}
	}
	return b, mtime, nil
}

// writeCredentials replaces the instance's copy of Claude's login.
func (h *Home) writeCredentials(b []byte) error {
	return h.dir.WriteFile(CredentialsFile, b, 0o600)
}

// Prepare makes the instance home ready for this launch: a real
// directory or file at each mount point the sandbox's $HOME gets (the
// project when it lives under the home, tool directories, CLAUDE.host.md),
// SANDBOX.md rendered from this launch's spec, a CLAUDE.md that imports
// it (and the user's own CLAUDE.md, when shown) exactly once, keeping the
// user's edits, and with --ssh-agent the named hosts' keys in
// ~/.ssh/known_hosts.
func (home *Home) Prepare(s *launch.Spec) error {
	for _, m := range s.Mounts {
		dst := m.Dest()
		if dst == s.Home || !launch.Within(dst, s.Home) || insideOther(s, m) {
			continue
		}
		fi, err := os.Stat(m.Path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(s.Home, dst)
		if err := home.MountPoint(rel, fi.IsDir()); err != nil {
			return err
		}
	}
	md := audit.RenderSandboxMD(s)
	if err := home.Update(SandboxMDFile, MaxSandboxMD, func([]byte) []byte { return md }); err != nil {
		return fmt.Errorf("SANDBOX.md: %w", err)
	}
	hostMD := slices.ContainsFunc(s.Mounts, func(m launch.Mount) bool { return m.Target == launch.HostClaudeMDPath(s.Home) })
	if err := home.Update(ClaudeMDFile, MaxClaudeMD, func(old []byte) []byte { return audit.EnsureImports(old, hostMD) }); err != nil {
		return fmt.Errorf("CLAUDE.md: %w", err)
	}
	if s.SSHAgent != nil && len(s.SSHAgent.Hosts) > 0 {
		if err := home.writeKnownHosts(s.SSHAgent); err != nil {
			return fmt.Errorf("~/%s: %w", KnownHostsFile, err)
		}
	}
	return nil
}

// insideOther reports whether m is mounted inside another of the launch's
// mounts below the home (a --ro inside the project): its mount point is
// in that mount's tree, not in the home.
func insideOther(s *launch.Spec, m launch.Mount) bool {
	return slices.ContainsFunc(s.Mounts, func(o launch.Mount) bool {
		return o.Dest() != m.Dest() && o.Dest() != s.Home && launch.Within(m.Dest(), o.Dest())
	})
}
