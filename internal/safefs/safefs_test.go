package safefs

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/claudebox/claudebox/internal/testuser"
	"golang.org/x/sys/unix"
)

// tree makes a root holding what plant puts at "x/f" (x a directory),
// and a secret outside it.
func tree(t *testing.T, plant func(root, secret string) error) (*Dir, string, string) {
	t.Helper()
	root, out := t.TempDir(), t.TempDir()
	secret := filepath.Join(out, "secret")
	if err := os.WriteFile(secret, []byte("SECRET"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(root, "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := plant(root, secret); err != nil {
		t.Fatal(err)
	}
	d, err := OpenRoot(root, "~")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d, root, secret
}

var plants = map[string]struct {
	plant   func(root, secret string) error
	problem string // what ReadFile("x/f") says
	// writeErr is what WriteFile("x/f") says; "": it replaces what was
	// planted with a file.
	writeErr string
}{
	"link to a secret": {func(r, s string) error { return os.Symlink(s, filepath.Join(r, "x/f")) }, "~/x/f is a symbolic link", ""},
	"link to a dir":    {func(r, s string) error { return os.Symlink(filepath.Dir(s), filepath.Join(r, "x/f")) }, "~/x/f is a symbolic link", ""},
	"parent a link": {func(r, s string) error {
		os.Remove(filepath.Join(r, "x"))
		return os.Symlink(filepath.Dir(s), filepath.Join(r, "x"))
	}, "~/x is a symbolic link", "~/x is a symbolic link"},
	"fifo":      {func(r, _ string) error { return unix.Mkfifo(filepath.Join(r, "x/f"), 0o600) }, "~/x/f is a FIFO, not a file", ""},
	"directory": {func(r, _ string) error { return os.Mkdir(filepath.Join(r, "x/f"), 0o700) }, "~/x/f is a directory, not a file", "~/x/f is a directory, not a file"},
	"dev/zero":  {func(r, _ string) error { return os.Symlink("/dev/zero", filepath.Join(r, "x/f")) }, "~/x/f is a symbolic link", ""},
	"30 GB": {func(r, _ string) error {
		f, err := os.Create(filepath.Join(r, "x/f"))
		if err != nil {
			return err
		}
		defer f.Close()
		return f.Truncate(30 << 30)
	}, "~/x/f is 30 GiB, more than the 64 KiB allowed", ""},
}

func TestReadFileRefuses(t *testing.T) {
	for name, p := range plants {
		t.Run(name, func(t *testing.T) {
			d, _, _ := tree(t, p.plant)
			done := make(chan error, 1)
			go func() { _, _, err := d.ReadFile("x/f", 64<<10); done <- err }()
			var err error
			select {
			case err = <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("ReadFile hung")
			}
			var bad *Error
			if !errors.As(err, &bad) || bad.Error() != p.problem {
				t.Errorf("got %v, want %q", err, p.problem)
			}
		})
	}
}

func TestReadFile(t *testing.T) {
	d, root, _ := tree(t, func(r, _ string) error { return os.WriteFile(filepath.Join(r, "x/f"), []byte("ok"), 0o600) })
	b, mtime, err := d.ReadFile("x/f", 2)
	if err != nil || string(b) != "ok" || mtime.IsZero() {
		t.Fatalf("ReadFile: %q %v %v", b, mtime, err)
	}
	if _, _, err := d.ReadFile("x/missing", 2); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing: %v", err)
	}
	if _, _, err := d.ReadFile("../x/f", 2); err == nil {
		t.Error("../ read")
	}
	if _, _, err := d.ReadFile(filepath.Join(root, "x/f"), 2); err == nil {
		t.Error("absolute path read")
	}
}

// TestWriteFile: a new file, then the same replaced, with its mode; no
// temporary file is left; a path that leaves the tree is refused.
func TestWriteFile(t *testing.T) {
	d, root, _ := tree(t, func(string, string) error { return nil })
	for _, data := range []string{"first", "second, longer"} {
		if err := d.WriteFile("x/f", []byte(data), 0o640); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Lstat(filepath.Join(root, "x/f"))
		if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o640 {
			t.Fatalf("x/f: %v %v", fi, err)
		}
		if b, _ := os.ReadFile(filepath.Join(root, "x/f")); string(b) != data {
			t.Fatalf("x/f holds %q, want %q", b, data)
		}
	}
	if entries, _ := os.ReadDir(filepath.Join(root, "x")); len(entries) != 1 {
		t.Errorf("x holds %v, want f alone", entries)
	}
	for rel, want := range map[string]string{
		"../x/f":                     "~/../x/f is not a path inside ~",
		filepath.Join(root, "x/new"): "~/" + filepath.Join(root, "x/new") + " is not a path inside ~",
	} {
		var bad *Error
		if err := d.WriteFile(rel, []byte("no"), 0o600); !errors.As(err, &bad) || bad.Error() != want {
			t.Errorf("WriteFile(%q): got %v, want %q", rel, err, want)
		}
	}
	if _, err := os.Stat(filepath.Join(root, "x/new")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("an absolute path was written: %v", err)
	}
}

// WriteFile replaces what is at the path, never what a link names.
func TestWriteFileNeverFollows(t *testing.T) {
	for name, p := range plants {
		t.Run(name, func(t *testing.T) {
			d, root, secret := tree(t, p.plant)
			err := d.WriteFile("x/f", []byte("new"), 0o644)
			if b, _ := os.ReadFile(secret); string(b) != "SECRET" {
				t.Fatalf("the secret outside was written: %q", b)
			}
			if entries, _ := os.ReadDir(filepath.Dir(secret)); len(entries) != 1 {
				t.Fatalf("a file was made outside the tree: %v", entries)
			}
			if p.writeErr != "" {
				var bad *Error
				if !errors.As(err, &bad) || bad.Error() != p.writeErr {
					t.Fatalf("got %v, want %q", err, p.writeErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("WriteFile: %v", err)
			}
			if fi, err := os.Lstat(filepath.Join(root, "x/f")); err != nil || !fi.Mode().IsRegular() {
				t.Fatalf("x/f is not a file now: %v %v", fi, err)
			}
			if b, err := os.ReadFile(filepath.Join(root, "x/f")); err != nil || string(b) != "new" {
				t.Errorf("x/f: %q %v", b, err)
			}
		})
	}
}

// Repair makes the path real, moving aside what was in the way.
func TestRepair(t *testing.T) {
	for name, p := range plants {
		t.Run(name, func(t *testing.T) {
			d, root, secret := tree(t, p.plant)
			notes, err := d.Repair("x/f/g", true, 0o755)
			if err != nil {
				t.Fatal(err)
			}
			if fi, err := os.Lstat(filepath.Join(root, "x/f/g")); err != nil || !fi.IsDir() {
				t.Fatalf("x/f/g: %v %v", fi, err)
			}
			if name != "directory" && (len(notes) != 1 || !strings.Contains(notes[0], "moved to")) {
				t.Errorf("notes %q", notes)
			}
			if entries, _ := os.ReadDir(filepath.Dir(secret)); len(entries) != 1 {
				t.Fatalf("made outside the tree: %v", entries)
			}
		})
	}
	t.Run("mode 000", func(t *testing.T) {
		d, root, _ := tree(t, func(r, _ string) error { return os.Chmod(filepath.Join(r, "x"), 0) })
		notes, err := d.Repair("x", true, 0o755)
		if err != nil {
			t.Fatal(err)
		}
		if fi, _ := os.Stat(filepath.Join(root, "x")); fi.Mode().Perm() != 0o700 || len(notes) != 1 {
			t.Errorf("mode %v, notes %q", fi.Mode(), notes)
		}
	})
}

func TestOpenPath(t *testing.T) {
	root := t.TempDir()
	os.Mkdir(filepath.Join(root, "real"), 0o755)
	os.Symlink("real", filepath.Join(root, "link"))
	if d, err := OpenPath(filepath.Join(root, "real"), "real"); err != nil {
		t.Error(err)
	} else {
		d.Close()
	}
	var bad *Error
	if _, err := OpenPath(filepath.Join(root, "link"), "link"); !errors.As(err, &bad) || !strings.HasPrefix(bad.Error(), "link cannot be opened without following links") {
		t.Errorf("through a link: %v", err)
	}
	for _, p := range []string{root + "/real/../link", root + "/real/../real", "real", root + "/real/"} {
		if _, err := OpenPath(p, "p"); !errors.As(err, &bad) || bad.Error() != "p is not a clean absolute path" {
			t.Errorf("OpenPath(%q): %v", p, err)
		}
	}
	var pe *fs.PathError
	if _, err := OpenPath(filepath.Join(root, "missing"), "missing"); !errors.Is(err, fs.ErrNotExist) || !errors.As(err, &pe) {
		t.Errorf("missing: %v", err)
	}
}

func TestSize(t *testing.T) {
	for n, want := range map[int64]string{
		0: "0 B", 10: "10 B", 1023: "1023 B", 1024: "1 KiB", 1536: "1.5 KiB", 64 << 10: "64 KiB",
		1<<20 - 1: "1024.0 KiB", 1 << 20: "1 MiB", 30 << 30: "30 GiB",
	} {
		if got := Size(n); got != want {
			t.Errorf("Size(%d) = %q, want %q", n, got, want)
		}
	}
}

// TestRefusesAsUser: what only a user who is not root meets (root reads
// and enters anything): an unreadable file, an inaccessible directory,
// each named in the error. Runs as the test user under root.
func TestRefusesAsUser(t *testing.T) {
	if testuser.Rerun(t, "^TestRefusesAsUser$") {
		return
	}
	for _, c := range []struct {
		name    string
		plant   func(root string) error
		problem string
	}{
		{"unreadable file", func(r string) error { return os.WriteFile(filepath.Join(r, "x/f"), []byte("x"), 0) }, "~/x/f is not readable (mode 0000)"},
		{"inaccessible directory", func(r string) error {
			if err := os.WriteFile(filepath.Join(r, "x/f"), []byte("x"), 0o600); err != nil {
				return err
			}
			return os.Chmod(filepath.Join(r, "x"), 0o600)
		}, "~/x is not accessible (mode 0600)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			d, root, _ := tree(t, func(r, _ string) error { return c.plant(r) })
			t.Cleanup(func() { os.Chmod(filepath.Join(root, "x"), 0o755) })
			var bad *Error
			if _, _, err := d.ReadFile("x/f", 64); !errors.As(err, &bad) || bad.Error() != c.problem || !errors.Is(err, fs.ErrPermission) {
				t.Errorf("got %v, want %q", err, c.problem)
			}
		})
	}
	// Repair reports what it cannot make.
	d, root, _ := tree(t, func(string, string) error { return nil })
	os.Chmod(root, 0o555)
	defer os.Chmod(root, 0o755)
	for _, dir := range []bool{false, true} {
		if _, err := d.Repair("new", dir, 0o700); !errors.Is(err, fs.ErrPermission) {
			t.Errorf("Repair(new, dir=%v) in a read-only directory: %v", dir, err)
		}
	}
}

// TestMoveAside: a name of its own each time, also when the first choice
// is taken (two in the same second); the entry moves whole.
func TestMoveAside(t *testing.T) {
	d, root, _ := tree(t, func(r, _ string) error { return os.WriteFile(filepath.Join(r, "x/f"), []byte("1"), 0o600) })
	stamped := regexp.MustCompile(`^f\.bad-\d{8}T\d{6}$`)
	first, err := d.MoveAside("x/f")
	if err != nil || !stamped.MatchString(first) {
		t.Fatalf("MoveAside: %q %v", first, err)
	}
	// Take the names of the next few seconds too, so that the next
	// moves collide whenever they run.
	now := time.Now().UTC()
	for s := range 5 {
		os.WriteFile(filepath.Join(root, "x", "f.bad-"+now.Add(time.Duration(s)*time.Second).Format("20060102T150405")), nil, 0o600)
	}
	for i, content := range []string{"2", "3"} {
		os.WriteFile(filepath.Join(root, "x/f"), []byte(content), 0o600)
		name, err := d.MoveAside("x/f")
		if err != nil || !strings.HasPrefix(name, "f.bad-") || !strings.HasSuffix(name, "-"+strconv.Itoa(i+1)) {
			t.Fatalf("MoveAside %d: %q %v", i+2, name, err)
		}
		if b, _ := os.ReadFile(filepath.Join(root, "x", name)); string(b) != content {
			t.Errorf("%s holds %q, want %q", name, b, content)
		}
	}
	if _, err := os.Lstat(filepath.Join(root, "x/f")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("x/f is still there: %v", err)
	}
}

// TestRepairFile: a file is made with its directories, and the Dir it was
// made beneath is still usable after (Repair closes only its own).
func TestRepairFile(t *testing.T) {
	d, root, _ := tree(t, func(string, string) error { return nil })
	for range 2 {
		notes, err := d.Repair("a/b/f", false, 0o700)
		if err != nil || len(notes) != 0 {
			t.Fatalf("Repair: %q %v", notes, err)
		}
		for rel, dir := range map[string]bool{"a": true, "a/b": true, "a/b/f": false} {
			fi, err := os.Lstat(filepath.Join(root, rel))
			if err != nil || fi.IsDir() != dir || !dir && !fi.Mode().IsRegular() {
				t.Fatalf("%s: %v %v", rel, fi, err)
			}
		}
	}
	if err := d.WriteFile("a/b/f", []byte("ok"), 0o600); err != nil {
		t.Fatal(err)
	}
	if b, _, err := d.ReadFile("a/b/f", 2); err != nil || string(b) != "ok" {
		t.Errorf("after Repair: %q %v", b, err)
	}
}

func TestWriteFileNoSync(t *testing.T) {
	d, root, _ := tree(t, func(string, string) error { return nil })
	if err := d.WriteFileNoSync("x/f", []byte("new"), 0o600); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(root, "x/f")); err != nil || string(b) != "new" {
		t.Errorf("read back %q %v", b, err)
	}
	if err := d.Sync("x/f"); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("f", filepath.Join(root, "x/l")); err != nil {
		t.Fatal(err)
	}
	if err := d.Sync("x/l"); err == nil {
		t.Error("Sync followed a link")
	}
}
