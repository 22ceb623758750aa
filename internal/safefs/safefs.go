// Package safefs is how claudebox, outside the sandbox, opens, reads and
// writes inside a tree the sandbox can write: the instance home, the
// project and its .git. Such a tree is hostile input, and every access to
// it goes through this package:
//
//   - every path is resolved beneath an open directory of a trusted root by
//     openat2(2) with RESOLVE_BENEATH, RESOLVE_NO_SYMLINKS,
//     RESOLVE_NO_MAGICLINKS and RESOLVE_NO_XDEV: no link the sandbox
//     planted is followed, nothing outside the tree is reached;
//   - a file is read only when it is regular, opened without blocking (a
//     FIFO, or a lease the sandbox holds, cannot hang the reader), and up
//     to a cap the caller gives;
//   - a file is replaced through a temporary file and renameat(2) on the
//     same directory handle;
//   - what is in the way is described in words a user can act on (Error)
//     and moved aside (MoveAside), never followed or deleted.
package safefs

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// resolve is how every path beneath a Dir is resolved.
const resolve = unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS | unix.RESOLVE_NO_XDEV

// Error says why an entry cannot be used as it is, in words for the user:
// Path is as the user would name it, Problem what is wrong with it.
type Error struct {
	Path    string
	Problem string // "is a FIFO, not a file"
	Err     error  // the system's error, when there is one
}

func (e *Error) Error() string { return e.Path + " " + e.Problem }
func (e *Error) Unwrap() error { return e.Err }

// Dir is an open directory of a tree the sandbox can write. Its name is
// how messages show it ("~" for the instance home).
type Dir struct {
	f    *os.File // opened O_PATH
	name string
}

// OpenRoot opens a tree's root. path itself is trusted (claudebox chose
// it, or the user named it); only its last component must not be a link.
func OpenRoot(path, name string) (*Dir, error) {
	fd, err := unix.Open(path, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	return &Dir{f: os.NewFile(uintptr(fd), path), name: name}, nil
}

// OpenTrusted opens a directory at a trusted path, links followed (the
// user's own ~/.claude may be one): for writing files there atomically.
func OpenTrusted(path string) (*Dir, error) {
	fd, err := unix.Open(path, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	return &Dir{f: os.NewFile(uintptr(fd), path), name: path}, nil
}

// OpenPath opens an absolute directory path in which no component may be
// a link: a path the sandbox could have named (a worktree's git
// directory), reached with no help from links it could have planted. It
// may cross mounts.
func OpenPath(path, name string) (*Dir, error) {
	if !filepath.IsAbs(path) || filepath.Clean(path) != path {
		return nil, &Error{Path: name, Problem: "is not a clean absolute path"}
	}
	fd, err := unix.Openat2(unix.AT_FDCWD, path, &unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
	})
	if err != nil {
		if err == unix.ENOENT {
			return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
		}
		return nil, &Error{Path: name, Problem: "cannot be opened without following links: " + err.Error(), Err: err}
	}
	return &Dir{f: os.NewFile(uintptr(fd), path), name: name}, nil
}

// Close closes the directory.
func (d *Dir) Close() error { return d.f.Close() }

// Name is the directory as messages show it.
func (d *Dir) Name() string { return d.name }

// SetName changes how messages show the directory.
func (d *Dir) SetName(name string) { d.name = name }

func (d *Dir) fd() int { return int(d.f.Fd()) }

func (d *Dir) show(rel string) string {
	if rel == "." || rel == "" {
		return d.name
	}
	return d.name + "/" + rel
}

// openat2 opens rel beneath d, which must be of type want (S_IFDIR,
// S_IFREG); a failure is an *Error that names what is in the way, or an
// fs.ErrNotExist.
func (d *Dir) openat2(rel string, flags int, want uint32) (*os.File, error) {
	if !filepath.IsLocal(rel) {
		return nil, &Error{Path: d.show(rel), Problem: "is not a path inside " + d.name}
	}
	if flags&unix.O_PATH == 0 {
		flags |= unix.O_NOCTTY // openat2 refuses it with O_PATH
	}
	how := &unix.OpenHow{Flags: uint64(flags | unix.O_CLOEXEC), Resolve: resolve}
	fd, err := unix.Openat2(d.fd(), rel, how)
	for err == unix.EINTR {
		fd, err = unix.Openat2(d.fd(), rel, how)
	}
	if err != nil {
		if err == unix.ENOENT {
			return nil, &fs.PathError{Op: "open", Path: d.show(rel), Err: fs.ErrNotExist}
		}
		return nil, d.describe(rel, want, err)
	}
	f := os.NewFile(uintptr(fd), d.show(rel))
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		f.Close()
		return nil, err
	}
	if st.Mode&unix.S_IFMT != want {
		f.Close()
		return nil, &Error{Path: d.show(rel), Problem: problem(st.Mode, want)}
	}
	return f, nil
}

// describe finds what in rel made an open fail with cause: the first
// component that is a link, a mount point, not of the type needed, or not
// accessible.
func (d *Dir) describe(rel string, want uint32, cause error) error {
	parts := strings.Split(rel, "/")
	parent, opened := d.fd(), -1
	defer func() {
		if opened >= 0 {
			unix.Close(opened)
		}
	}()
	for i, p := range parts {
		shown := d.show(strings.Join(parts[:i+1], "/"))
		last := i == len(parts)-1
		need := uint32(unix.S_IFDIR)
		if last {
			need = want
		}
		var st unix.Stat_t
		if unix.Fstatat(parent, p, &st, unix.AT_SYMLINK_NOFOLLOW) != nil {
			break
		}
		if st.Mode&unix.S_IFMT != need {
			return &Error{Path: shown, Problem: problem(st.Mode, need), Err: cause}
		}
		mode := st.Mode & 0o7777
		switch {
		case cause == unix.EACCES && last:
			return &Error{Path: shown, Problem: fmt.Sprintf("is not readable (mode %04o)", mode), Err: cause}
		case cause == unix.EACCES && mode&0o100 == 0:
			return &Error{Path: shown, Problem: fmt.Sprintf("is not accessible (mode %04o)", mode), Err: cause}
		case cause == unix.EAGAIN && last:
			return &Error{Path: shown, Problem: "is leased by another process", Err: cause}
		case last:
			return &Error{Path: shown, Problem: "cannot be opened: " + cause.Error(), Err: cause}
		}
		next, err := unix.Openat2(parent, p, &unix.OpenHow{Flags: unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC, Resolve: resolve})
		if err == unix.EXDEV {
			return &Error{Path: shown, Problem: "is a mount point", Err: cause}
		}
		if err != nil {
			break
		}
		if opened >= 0 {
			unix.Close(opened)
		}
		parent, opened = next, next
	}
	return &Error{Path: d.show(rel), Problem: "cannot be opened: " + cause.Error(), Err: cause}
}

// problem says what an entry of mode is when want was needed.
func problem(mode, want uint32) string {
	var is string
	switch mode & unix.S_IFMT {
	case unix.S_IFLNK:
		return "is a symbolic link"
	case unix.S_IFIFO:
		is = "a FIFO"
	case unix.S_IFSOCK:
		is = "a socket"
	case unix.S_IFCHR, unix.S_IFBLK:
		is = "a device"
	case unix.S_IFDIR:
		is = "a directory"
	case unix.S_IFREG:
		is = "a file"
	default:
		is = "of an unknown kind"
	}
	if want == unix.S_IFDIR {
		return "is " + is + ", not a directory"
	}
	return "is " + is + ", not a file"
}

// OpenDir opens the directory rel beneath d.
func (d *Dir) OpenDir(rel string) (*Dir, error) {
	f, err := d.openat2(rel, unix.O_PATH|unix.O_DIRECTORY, unix.S_IFDIR)
	if err != nil {
		return nil, err
	}
	return &Dir{f: f, name: d.show(rel)}, nil
}

// ReadFile reads the regular file rel beneath d, of at most max bytes,
// and returns its content and modification time.
func (d *Dir) ReadFile(rel string, max int64) ([]byte, time.Time, error) {
	f, err := d.openat2(rel, unix.O_RDONLY|unix.O_NONBLOCK, unix.S_IFREG)
	if err != nil {
		return nil, time.Time{}, err
	}
	defer f.Close()
	return readBounded(f, d.show(rel), max)
}

// ReadDirNames lists the directory rel beneath d: at most max names, in
// directory order; more is an *Error.
func (d *Dir) ReadDirNames(rel string, max int) ([]string, error) {
	f, err := d.openat2(rel, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NONBLOCK, unix.S_IFDIR)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	names, err := f.Readdirnames(max + 1)
	if err != nil && err != io.EOF {
		return nil, err
	}
	if len(names) > max {
		return nil, &Error{Path: d.show(rel), Problem: fmt.Sprintf("holds more than %d entries", max)}
	}
	return names, nil
}

// Kind says what rel beneath d is, without following it: a file mode
// type (fs.ModeDir, fs.ModeSymlink, 0 for a regular file, ...), or an
// error (fs.ErrNotExist when it is missing).
func (d *Dir) Kind(rel string) (fs.FileMode, error) {
	parent, base, err := d.parent(rel)
	if err != nil {
		return 0, err
	}
	defer parent.Close()
	var st unix.Stat_t
	if err := unix.Fstatat(parent.fd(), base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		if err == unix.ENOENT {
			return 0, &fs.PathError{Op: "stat", Path: d.show(rel), Err: fs.ErrNotExist}
		}
		return 0, &fs.PathError{Op: "stat", Path: d.show(rel), Err: err}
	}
	return kindOf(st.Mode), nil
}

// ReadTrusted reads a file at a trusted path (links are followed: the
// user's own ~/.claude may be one) with the same care as ReadFile: a
// regular file, opened without blocking, of at most max bytes.
func ReadTrusted(path string, max int64) ([]byte, time.Time, error) {
	f, _, err := openTrusted(path)
	if err != nil {
		return nil, time.Time{}, err
	}
	defer f.Close()
	return readBounded(f, path, max)
}

// ReadTrustedHead is ReadTrusted for a file that may be larger than max:
// it reads the first max bytes; whole says whether that is all of it, and
// size is the file's.
func ReadTrustedHead(path string, max int64) (b []byte, whole bool, size int64, err error) {
	f, size, err := openTrusted(path)
	if err != nil {
		return nil, false, 0, err
	}
	defer f.Close()
	b, err = io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, false, 0, &Error{Path: path, Problem: "cannot be read: " + err.Error(), Err: err}
	}
	if int64(len(b)) > max {
		return b[:max], false, size, nil
	}
	return b, true, size, nil
}

// openTrusted opens the regular file at a trusted path, without blocking,
// and returns its size.
func openTrusted(path string) (*os.File, int64, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC|unix.O_NOCTTY, 0)
	if err != nil {
		return nil, 0, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	f := os.NewFile(uintptr(fd), path)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		f.Close()
		return nil, 0, err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		f.Close()
		return nil, 0, &Error{Path: path, Problem: problem(st.Mode, unix.S_IFREG)}
	}
	return f, st.Size, nil
}

// readBounded reads an open regular file of at most max bytes.
func readBounded(f *os.File, name string, max int64) ([]byte, time.Time, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, time.Time{}, err
	}
	if fi.Size() > max {
		return nil, time.Time{}, &Error{Path: name, Problem: "is " + Size(fi.Size()) + ", more than the " + Size(max) + " allowed"}
	}
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, time.Time{}, &Error{Path: name, Problem: "cannot be read: " + err.Error(), Err: err}
	}
	if int64(len(b)) > max {
		return nil, time.Time{}, &Error{Path: name, Problem: "grew past the " + Size(max) + " allowed"}
	}
	return b, fi.ModTime(), nil
}

// WriteFile replaces the file rel beneath d with data, atomically: a
// temporary file in the same directory, synced, renamed over rel. A
// directory in the way is an *Error; a link, FIFO or anything else at rel
// is replaced, never followed.
func (d *Dir) WriteFile(rel string, data []byte, perm os.FileMode) error {
	return d.writeFile(rel, data, perm, true)
}

// WriteFileNoSync is WriteFile without the wait for the disk: rel is
// replaced at once and whole (a reader never sees it partial), and is on
// disk once Sync(rel) returns; a crash before may leave it empty.
func (d *Dir) WriteFileNoSync(rel string, data []byte, perm os.FileMode) error {
	return d.writeFile(rel, data, perm, false)
}

// Sync puts the file rel beneath d, and its directory entry, on disk.
func (d *Dir) Sync(rel string) error {
	for _, p := range []struct {
		rel   string
		flags int
		typ   uint32
	}{{rel, unix.O_RDONLY | unix.O_NONBLOCK, unix.S_IFREG}, {filepath.Dir(rel), unix.O_RDONLY | unix.O_DIRECTORY, unix.S_IFDIR}} {
		f, err := d.openat2(p.rel, p.flags, p.typ)
		if err != nil {
			return err
		}
		err = f.Sync()
		f.Close()
		if err != nil {
			return fmt.Errorf("syncing %s: %w", d.show(p.rel), err)
		}
	}
	return nil
}

func (d *Dir) writeFile(rel string, data []byte, perm os.FileMode, sync bool) (err error) {
	parent, base, err := d.parent(rel)
	if err != nil {
		return err
	}
	defer parent.Close()
	var st unix.Stat_t
	if err := unix.Fstatat(parent.fd(), base, &st, unix.AT_SYMLINK_NOFOLLOW); err == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR {
		return &Error{Path: d.show(rel), Problem: problem(st.Mode, unix.S_IFREG)}
	}
	tmp := "." + base + ".tmp-" + randomSuffix()
	fd, err := unix.Openat(parent.fd(), tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, uint32(perm))
	if err != nil {
		return &fs.PathError{Op: "create", Path: d.show(filepath.Join(filepath.Dir(rel), tmp)), Err: err}
	}
	f := os.NewFile(uintptr(fd), tmp)
	defer func() {
		if err != nil {
			f.Close()
			_ = unix.Unlinkat(parent.fd(), tmp, 0)
		}
	}()
	if _, err = f.Write(data); err != nil {
		return fmt.Errorf("writing %s: %w", d.show(rel), err)
	}
	if err = f.Chmod(perm); err != nil {
		return err
	}
	if sync {
		if err = f.Sync(); err != nil {
			return err
		}
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = unix.Renameat(parent.fd(), tmp, parent.fd(), base); err != nil {
		return &fs.PathError{Op: "rename", Path: d.show(rel), Err: err}
	}
	return nil
}

// parent opens the directory holding rel and returns rel's last
// component.
func (d *Dir) parent(rel string) (*Dir, string, error) {
	if !filepath.IsLocal(rel) {
		return nil, "", &Error{Path: d.show(rel), Problem: "is not a path inside " + d.name}
	}
	p, err := d.OpenDir(filepath.Dir(rel))
	return p, filepath.Base(rel), err
}

// MoveAside renames rel, whatever it is, to a new name beside it:
// NAME.bad-TIME. It returns the new name (rel's last component).
func (d *Dir) MoveAside(rel string) (string, error) {
	parent, base, err := d.parent(rel)
	if err != nil {
		return "", err
	}
	defer parent.Close()
	stamp := time.Now().UTC().Format("20060102T150405")
	for i := 0; ; i++ {
		name := base + ".bad-" + stamp
		if i > 0 {
			name += "-" + strconv.Itoa(i)
		}
		err := unix.Renameat2(parent.fd(), base, parent.fd(), name, unix.RENAME_NOREPLACE)
		if err == unix.EEXIST && i < 100 {
			continue
		}
		if err != nil {
			return "", &fs.PathError{Op: "rename", Path: d.show(rel), Err: err}
		}
		return name, nil
	}
}

// Repair makes rel usable beneath d as a directory (dir) or a regular file
// (!dir), each of its parents a real directory: what is missing is made,
// what is in the way (a link, a FIFO, the wrong kind) is moved aside, and
// a directory of the user's own that lacks the user's rwx gets it back.
// notes say, in words for the user, what was changed.
func (d *Dir) Repair(rel string, dir bool, perm os.FileMode) (notes []string, err error) {
	if !filepath.IsLocal(rel) {
		return nil, &Error{Path: d.show(rel), Problem: "is not a path inside " + d.name}
	}
	parts := strings.Split(rel, "/")
	cur := d
	defer func() {
		if cur != d {
			cur.Close()
		}
	}()
	for i, p := range parts {
		want := uint32(unix.S_IFDIR)
		if i == len(parts)-1 && !dir {
			want = unix.S_IFREG
		}
		note, err := cur.make(p, want, perm)
		if note != "" {
			notes = append(notes, note)
		}
		if err != nil || want != unix.S_IFDIR {
			return notes, err
		}
		next, err := cur.OpenDir(p)
		if err != nil {
			return notes, err
		}
		if cur != d {
			cur.Close()
		}
		cur = next
		note, err = cur.restoreAccess()
		if note != "" {
			notes = append(notes, note)
		}
		if err != nil {
			return notes, err
		}
	}
	return notes, nil
}

// make makes the entry name in d of type want, moving aside what is there
// in its way.
func (d *Dir) make(name string, want uint32, perm os.FileMode) (note string, err error) {
	var st unix.Stat_t
	switch err := unix.Fstatat(d.fd(), name, &st, unix.AT_SYMLINK_NOFOLLOW); {
	case err == nil && st.Mode&unix.S_IFMT == want:
		return "", nil
	case err == nil:
		moved, err := d.MoveAside(name)
		if err != nil {
			return "", err
		}
		note = fmt.Sprintf("%s %s: moved to %s", d.show(name), problem(st.Mode, want), moved)
	case err != unix.ENOENT:
		return "", &Error{Path: d.show(name), Problem: "cannot be looked at: " + err.Error(), Err: err}
	}
	if want == unix.S_IFDIR {
		err = unix.Mkdirat(d.fd(), name, uint32(perm))
	} else {
		var fd int
		if fd, err = unix.Openat(d.fd(), name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, uint32(perm)); err == nil {
			unix.Close(fd)
		}
	}
	if err != nil && err != unix.EEXIST { // EEXIST: made meanwhile, looked at again by the caller
		return note, &fs.PathError{Op: "create", Path: d.show(name), Err: err}
	}
	return note, nil
}

// restoreAccess gives a directory of the user's own back the user's rwx,
// which the sandbox may have taken away.
func (d *Dir) restoreAccess() (string, error) {
	var st unix.Stat_t
	if err := unix.Fstat(d.fd(), &st); err != nil {
		return "", err
	}
	mode := st.Mode & 0o7777
	if mode&0o700 == 0o700 || int(st.Uid) != os.Geteuid() {
		return "", nil
	}
	// chmod through the handle's own /proc entry: the very directory
	// opened, not whatever is at its path now.
	if err := unix.Chmod("/proc/self/fd/"+strconv.Itoa(d.fd()), mode|0o700); err != nil {
		return "", &Error{Path: d.name, Problem: fmt.Sprintf("is not accessible (mode %04o)", mode), Err: err}
	}
	return fmt.Sprintf("%s was mode %04o: made %04o", d.name, mode, mode|0o700), nil
}

// Size formats a byte count for messages: "64 KiB", "30.0 GiB".
func Size(n int64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10) + " B"
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	if n%div == 0 {
		return fmt.Sprintf("%d %ciB", n/div, "KMGTPE"[exp])
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func randomSuffix() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
