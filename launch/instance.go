package launch

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/claudebox/claudebox/internal/safefs"
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

// maxGitLink caps the small files git links a worktree with.
const maxGitLink = 4 << 10

// errNoWorktree: the project is not a linked git worktree (a main
// worktree, a submodule, no git at all).
var errNoWorktree = errors.New("not a linked worktree")

// gitWorktree reports, for a project root that is a linked git worktree,
// the main worktree's root and the shared git directory, read from the
// files git itself reads, so neither git nor the main worktree's presence
// in the sandbox is needed.
//
// The project's .git is the sandbox's to write, so it is believed only
// when git's own back-link confirms it: .git says "gitdir:
// COMMON/worktrees/NAME", COMMON is a .git directory outside the project,
// reached without links, and COMMON/worktrees/NAME/gitdir names this
// project's .git (git writes it when it adds the worktree, outside any
// sandbox of this project). Every file is read through package safefs.
// The error is errNoWorktree for a project that does not claim to be a
// worktree, and says why for one whose claim is not confirmed.
func gitWorktree(project string) (main, common string, err error) {
	root, err := safefs.OpenRoot(project, project)
	if err != nil {
		return "", "", errNoWorktree
	}
	defer root.Close()
	b, _, err := root.ReadFile(".git", maxGitLink)
	var bad *safefs.Error
	switch {
	case errors.As(err, &bad) && bad.Problem != "is a directory, not a file":
		return "", "", fmt.Errorf("%w: not read", err)
	case err != nil:
		return "", "", errNoWorktree // a directory (a main worktree), or no git
	}
	gitdir, found := strings.CutPrefix(strings.TrimSpace(string(b)), "gitdir: ")
	if !found {
		return "", "", errNoWorktree
	}
	gitdir = absFrom(project, gitdir)
	worktrees := filepath.Dir(gitdir)
	common = filepath.Dir(worktrees)
	if filepath.Base(worktrees) != "worktrees" || filepath.Base(common) != ".git" {
		return "", "", errNoWorktree // a submodule, or a bare repository's worktree
	}
	distrust := func(why string) error {
		return fmt.Errorf("%s/.git names the git worktree %s, but %s: not used as a worktree (if you moved it: git worktree repair)", project, gitdir, why)
	}
	if Within(common, project) {
		return "", "", distrust("that lies inside the project")
	}
	dir, err := safefs.OpenPath(gitdir, gitdir)
	if err != nil {
		return "", "", distrust(err.Error())
	}
	defer dir.Close()
	back, _, err := dir.ReadFile("gitdir", maxGitLink)
	if err != nil {
		return "", "", distrust(err.Error())
	}
	if absFrom(gitdir, strings.TrimSpace(string(back))) != filepath.Join(project, ".git") {
		return "", "", distrust("its gitdir names " + strings.TrimSpace(string(back)))
	}
	// git finds the shared directory through commondir: it must be the
	// same.
	c, _, err := dir.ReadFile("commondir", maxGitLink)
	if err != nil || absFrom(gitdir, strings.TrimSpace(string(c))) != common {
		return "", "", distrust("its commondir does not name " + common)
	}
	return filepath.Dir(common), common, nil
}

// absFrom makes a path git wrote absolute, relative paths being from dir,
// and clean.
func absFrom(dir, p string) string {
	if !filepath.IsAbs(p) {
		p = filepath.Join(dir, p)
	}
	return filepath.Clean(p)
}
