package launch

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"

	"golang.org/x/sys/unix"
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
	if m, c, err := gitWorktree(wt); err != nil || m != main || c != filepath.Join(main, ".git") {
		t.Errorf("worktree: %q %q %v", m, c, err)
	}
	if _, _, err := gitWorktree(main); err != errNoWorktree {
		t.Errorf("the main worktree is not a linked one: %v", err)
	}
	if _, _, err := gitWorktree(dir); err != errNoWorktree {
		t.Errorf("a directory without git is not a worktree: %v", err)
	}
	os.WriteFile(filepath.Join(dir, ".git"), []byte("gitdir: /nonexistent\n"), 0o644)
	if _, _, err := gitWorktree(dir); err != errNoWorktree {
		t.Errorf("a dangling gitdir is not a worktree: %v", err)
	}

	// Forged links: the project's .git is the sandbox's to write.
	other := filepath.Join(dir, "other")
	for _, args := range [][]string{{"init", "-q", other}} {
		if out, err := exec.Command(git, args...).CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	forged := filepath.Join(dir, "forged")
	for name, plant := range map[string]func() error{
		// A gitdir inside the project whose commondir leads to another
		// repository through a link.
		"commondir through a link": func() error {
			os.MkdirAll(filepath.Join(forged, "fake/.git/worktrees/x"), 0o755)
			os.Symlink(filepath.Join(other, ".git"), filepath.Join(forged, "link"))
			os.WriteFile(filepath.Join(forged, "fake/.git/worktrees/x/commondir"), []byte(filepath.Join(forged, "link")), 0o644)
			os.WriteFile(filepath.Join(forged, "fake/.git/worktrees/x/gitdir"), []byte(filepath.Join(forged, ".git")), 0o644)
			return os.WriteFile(filepath.Join(forged, ".git"), []byte("gitdir: fake/.git/worktrees/x\n"), 0o644)
		},
		// Another repository's worktree entry, whose back-link names
		// that worktree, not this project.
		"someone else's worktree": func() error {
			os.MkdirAll(forged, 0o755)
			return os.WriteFile(filepath.Join(forged, ".git"), []byte("gitdir: "+filepath.Join(main, ".git/worktrees/wt")+"\n"), 0o644)
		},
		// A made-up entry in another repository, without a back-link.
		"no back-link": func() error {
			os.MkdirAll(filepath.Join(other, ".git/worktrees/y"), 0o755)
			os.WriteFile(filepath.Join(other, ".git/worktrees/y/commondir"), []byte("../.."), 0o644)
			os.MkdirAll(forged, 0o755)
			return os.WriteFile(filepath.Join(forged, ".git"), []byte("gitdir: "+filepath.Join(other, ".git/worktrees/y")+"\n"), 0o644)
		},
		"a FIFO for .git": func() error {
			os.MkdirAll(forged, 0o755)
			return unix.Mkfifo(filepath.Join(forged, ".git"), 0o644)
		},
	} {
		os.RemoveAll(forged)
		if err := plant(); err != nil {
			t.Fatal(err)
		}
		m, c, err := gitWorktree(forged)
		if err == nil {
			t.Errorf("%s: taken for a worktree of %s (%s)", name, m, c)
		} else if err == errNoWorktree {
			t.Errorf("%s: not said: %v", name, err)
		}
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
