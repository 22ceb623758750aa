package safefs

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The walk never follows a link, lists every kind of entry with its type,
// marks what changed since a time as fresh, and stops at its caps.
func TestWalk(t *testing.T) {
	root, out := t.TempDir(), t.TempDir()
	for _, d := range []string{"a/b/c", "old"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.MkdirAll(filepath.Join(out, "secret-dir"), 0o755)
	os.Symlink(filepath.Join(out, "secret-dir"), filepath.Join(root, "a/link"))
	unix.Mkfifo(filepath.Join(root, "a/fifo"), 0o600)
	os.WriteFile(filepath.Join(root, "a/b/f"), nil, 0o644)
	time.Sleep(20 * time.Millisecond)
	since := time.Now()
	time.Sleep(20 * time.Millisecond)
	os.WriteFile(filepath.Join(root, "a/b/new"), nil, 0o644) // a/b changes: it and below are fresh

	d, err := OpenRoot(root, "~")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	seen := map[string]*WalkDir{}
	err = d.Walk(WalkLimits{Dirs: 100, Entries: 100, Depth: 10}, since, func(w *WalkDir, err error) func(int) bool {
		if err != nil {
			t.Errorf("%s: %v", w.Rel, err)
		}
		seen[w.Rel] = w
		return func(int) bool { return true }
	})
	if err != nil {
		t.Fatal(err)
	}
	var dirs []string
	for k := range seen {
		dirs = append(dirs, k)
	}
	slices.Sort(dirs)
	if want := []string{".", "a", "a/b", "a/b/c", "old"}; !slices.Equal(dirs, want) {
		t.Errorf("walked %q, want %q (a link is never followed)", dirs, want)
	}
	a := seen["a"]
	for name, typ := range map[string]fs.FileMode{"link": fs.ModeSymlink, "fifo": fs.ModeNamedPipe, "b": fs.ModeDir} {
		if i := slices.Index(a.Names, name); i < 0 || a.Types[i] != typ {
			t.Errorf("a/%s: listed %v, type %v", name, i >= 0, typ)
		}
	}
	if !seen["a/b"].Fresh || !seen["a/b/c"].Fresh || seen["old"].Fresh || seen["a"].Fresh {
		t.Errorf("fresh: a/b %v a/b/c %v old %v a %v", seen["a/b"].Fresh, seen["a/b/c"].Fresh, seen["old"].Fresh, seen["a"].Fresh)
	}
	for _, lim := range []WalkLimits{{Dirs: 2, Entries: 100, Depth: 10}, {Dirs: 100, Entries: 2, Depth: 10}, {Dirs: 100, Entries: 100, Depth: 1}} {
		err := d.Walk(lim, since, func(*WalkDir, error) func(int) bool { return func(int) bool { return true } })
		if !errors.Is(err, ErrWalkLimit) {
			t.Errorf("%+v: %v, want ErrWalkLimit", lim, err)
		}
	}
	if target, err := d.Readlink("a/link"); err != nil || target != filepath.Join(out, "secret-dir") {
		t.Errorf("readlink: %q %v", target, err)
	}
	if err := d.Rename("a/b/f", "g", false); err != nil || !exists(filepath.Join(root, "a/b/g")) {
		t.Errorf("rename: %v", err)
	}
	if err := d.Rename("a/b/g", "new", false); err == nil {
		t.Error("rename without replace replaced")
	}
	if err := d.Remove("a/b/g"); err != nil || exists(filepath.Join(root, "a/b/g")) {
		t.Errorf("remove: %v", err)
	}
	if _, err := d.Stat("a/link/x"); err == nil {
		t.Error("stat went through a link")
	}
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}
