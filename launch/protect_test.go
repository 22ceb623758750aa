package launch

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestProtected: what a host tool runs is read-only inside, in the
// project's git directory, its submodules' and a worktree's shared one;
// links are not followed; --rw lifts it, and says so.
func TestProtected(t *testing.T) {
	w := newWorld(t)
	git := filepath.Join(w.proj, ".git")
	for _, d := range []string{"hooks", "modules/lib/a/hooks", "worktrees/wt"} {
		mustMkdir(t, filepath.Join(git, d))
	}
	for _, f := range []string{"config", "modules/lib/a/config", "modules/lib/a/HEAD", "worktrees/wt/config.worktree"} {
		writeFile(t, filepath.Join(git, f), "x", 0o644)
	}
	writeFile(t, filepath.Join(w.proj, ".mcp.json"), "{}", 0o644)
	mustMkdir(t, filepath.Join(w.proj, ".vscode"))
	// Planted links: neither a file of git's nor a directory to protect.
	os.Symlink(filepath.Join(w.home, ".ssh"), filepath.Join(w.proj, ".idea"))
	os.Symlink(filepath.Join(w.home, ".ssh/id_ed25519"), filepath.Join(git, "config.worktree"))

	s, err := Resolve(run(Options{}), w.host)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range s.Mounts {
		if m.Protected {
			if m.Mode != ReadOnly {
				t.Errorf("%s protected but %s", m.Path, m.Mode)
			}
			rel, _ := filepath.Rel(w.proj, m.Path)
			got = append(got, rel)
		}
	}
	slices.Sort(got)
	want := []string{".git/config", ".git/hooks", ".git/modules/lib/a/config", ".git/modules/lib/a/hooks", ".git/worktrees/wt/config.worktree", ".mcp.json", ".vscode"}
	if !slices.Equal(got, want) {
		t.Errorf("protected %q\nwant %q", got, want)
	}

	s, err = Resolve(run(Options{RW: []string{".git/hooks"}}), w.host)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range s.Mounts {
		if m.Path == filepath.Join(git, "hooks") && (m.Mode != ReadWrite || !m.Unprotects) {
			t.Errorf("--rw .git/hooks: %+v", m)
		}
	}
}
