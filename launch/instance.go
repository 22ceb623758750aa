package launch

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
)

// Instance is the per-project state a launch uses: Claude's ~/.claude and
// ~/.claude.json for this project only, kept in Dir/home, which the sandbox
// sees as $HOME. The directories are made by package state at launch.
type Instance struct {
	// ID is a readable slug of the project's name and a short hash of its
	// canonical root: "my-app-3f9a1c2e".
	ID string `json:"id"`
	// Dir is the instance directory, under the state directory's
	// instances/.
	Dir string `json:"dir"`
	// Root is the project root the instance belongs to: the main worktree
	// when the project is a linked git worktree.
	Root string `json:"root"`
}

// HomeDir is the instance's home, shown as $HOME in the sandbox.
func (i *Instance) HomeDir() string { return filepath.Join(i.Dir, "home") }

// HostClaudeMDName is where the user's own ~/.claude/CLAUDE.md appears in
// the sandbox's ~/.claude, which the instance's CLAUDE.md imports.
const HostClaudeMDName = "CLAUDE.host.md"

// HostClaudeMDPath is HostClaudeMDName under a home.
func HostClaudeMDPath(home string) string { return filepath.Join(home, ".claude", HostClaudeMDName) }

// InstanceID names the instance of a canonical project root.
func InstanceID(root string) string {
	sum := sha256.Sum256([]byte(root))
	return slug(filepath.Base(root)) + "-" + hex.EncodeToString(sum[:4])
}

func slug(name string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(name) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
			dash = false
		} else if !dash && b.Len() > 0 {
			b.WriteByte('-')
			dash = true
		}
		if b.Len() >= 24 {
			break
		}
	}
	s := strings.TrimRight(b.String(), "-")
	if s == "" {
		return "project"
	}
	return s
}

// gitWorktree reports, for a project root that is a linked git worktree
// (its .git is a file naming a gitdir with a commondir), the main
// worktree's root and the shared git directory. It reads the files git
// itself reads, so neither git nor the main worktree's presence in the
// sandbox is needed. ok is false for anything else.
func gitWorktree(project string) (main, common string, ok bool) {
	b, err := os.ReadFile(filepath.Join(project, ".git"))
	if err != nil {
		return "", "", false // a directory (a main worktree), or no git
	}
	gitdir, found := strings.CutPrefix(strings.TrimSpace(string(b)), "gitdir: ")
	if !found {
		return "", "", false
	}
	if !filepath.IsAbs(gitdir) {
		gitdir = filepath.Join(project, gitdir)
	}
	c, err := os.ReadFile(filepath.Join(gitdir, "commondir"))
	if err != nil {
		return "", "", false // a submodule: its own project
	}
	common = strings.TrimSpace(string(c))
	if !filepath.IsAbs(common) {
		common = filepath.Join(gitdir, common)
	}
	common, err = filepath.EvalSymlinks(common)
	if err != nil || filepath.Base(common) != ".git" {
		return "", "", false // a bare repository has no main worktree
	}
	return filepath.Dir(common), common, true
}
