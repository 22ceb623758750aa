package launch

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
)

func TestInstanceID(t *testing.T) {
	valid := regexp.MustCompile(`^[a-z0-9-]{1,24}-[0-9a-f]{8}$`)
	for _, root := range []string{"/home/ada/src/My App!", "/", "/srv/äöü", "/x/a-very-long-project-name-that-goes-on"} {
		id := InstanceID(root)
		if !valid.MatchString(id) {
			t.Errorf("InstanceID(%q) = %q", root, id)
		}
	}
	if InstanceID("/a/app") == InstanceID("/b/app") {
		t.Error("two roots with one name share an id")
	}
	if got := InstanceID("/home/ada/src/My App!"); got[:7] != "my-app-" {
		t.Errorf("slug %q", got)
	}
}

func TestGitWorktree(t *testing.T) {
	git, err := exec.LookPath("git")
	if err != nil {
		t.Skip("requires git")
	}
	dir, _ := filepath.EvalSymlinks(t.TempDir())
	main, wt := filepath.Join(dir, "main"), filepath.Join(dir, "wt")
	for _, args := range [][]string{
		{"init", "-q", main},
		{"-C", main, "-c", "user.email=t@e", "-c", "user.name=t", "commit", "-q", "--allow-empty", "-m", "x"},
		{"-C", main, "worktree", "add", "-q", wt},
	} {
		if out, err := exec.Command(git, args...).CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	if m, c, ok := gitWorktree(wt); !ok || m != main || c != filepath.Join(main, ".git") {
		t.Errorf("worktree: %q %q %v", m, c, ok)
	}
	if _, _, ok := gitWorktree(main); ok {
		t.Error("the main worktree is not a linked one")
	}
	if _, _, ok := gitWorktree(dir); ok {
		t.Error("a directory without git is not a worktree")
	}
	os.WriteFile(filepath.Join(dir, ".git"), []byte("gitdir: /nonexistent\n"), 0o644)
	if _, _, ok := gitWorktree(dir); ok {
		t.Error("a dangling gitdir is not a worktree")
	}

	host := Host{UID: 1000, GID: 1000, Home: filepath.Join(dir, "home"), Cwd: wt, Root: dir}
	s, err := Resolve(Options{Command: []string{"true"}, StateDir: "/state"}, host)
	if err != nil {
		t.Fatal(err)
	}
	if s.Project != wt || s.Instance.Root != main || s.Instance.ID != InstanceID(main) {
		t.Errorf("worktree launch: project %s instance %+v", s.Project, s.Instance)
	}
	found := false
	for _, m := range s.Mounts {
		found = found || m == Mount{Path: filepath.Join(main, ".git"), Mode: ReadWrite, Why: "git worktree"}
	}
	if !found {
		t.Errorf("the shared git directory is not mounted: %+v", s.Mounts)
	}
}
