package safefs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// Info is what claudebox needs to know of an entry, from one fstatat
// without following it: its type, permission bits, size, and when it or
// its content last changed. Ctime is set by the kernel at every change of
// the entry (content, name, mode, times); a process cannot set it back.
type Info struct {
	Type  fs.FileMode // 0 for a regular file, fs.ModeDir, fs.ModeSymlink, ...
	Perm  fs.FileMode
	Size  int64
	Ctime time.Time
	// Dev and Ino name the inode: the same at two times, the same file
	// (not another one renamed into its place).
	Dev, Ino uint64
}

func infoOf(st *unix.Stat_t) Info {
	return Info{
		Type:  kindOf(st.Mode),
		Perm:  fs.FileMode(st.Mode & 0o777),
		Size:  st.Size,
		Ctime: time.Unix(st.Ctim.Unix()),
		Dev:   st.Dev,
		Ino:   st.Ino,
	}
}

func kindOf(mode uint32) fs.FileMode {
	switch mode & unix.S_IFMT {
	case unix.S_IFREG:
		return 0
	case unix.S_IFDIR:
		return fs.ModeDir
	case unix.S_IFLNK:
		return fs.ModeSymlink
	case unix.S_IFIFO:
		return fs.ModeNamedPipe
	case unix.S_IFSOCK:
		return fs.ModeSocket
	}
	return fs.ModeDevice
}

// Stat describes rel beneath d without following it.
func (d *Dir) Stat(rel string) (Info, error) {
	parent, base, err := d.parent(rel)
	if err != nil {
		return Info{}, err
	}
	defer parent.Close()
	var st unix.Stat_t
	if err := unix.Fstatat(parent.fd(), base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		if err == unix.ENOENT {
			return Info{}, &fs.PathError{Op: "stat", Path: d.show(rel), Err: fs.ErrNotExist}
		}
		return Info{}, &fs.PathError{Op: "stat", Path: d.show(rel), Err: err}
	}
	return infoOf(&st), nil
}

// Readlink reads the link rel beneath d (without following it, nor any
// link above it).
func (d *Dir) Readlink(rel string) (string, error) {
	parent, base, err := d.parent(rel)
	if err != nil {
		return "", err
	}
	defer parent.Close()
	buf := make([]byte, 4096)
	n, err := unix.Readlinkat(parent.fd(), base, buf)
	if err != nil {
		return "", &fs.PathError{Op: "readlink", Path: d.show(rel), Err: err}
	}
	return string(buf[:n]), nil
}

// Remove removes the entry rel beneath d, which must not be a directory.
func (d *Dir) Remove(rel string) error {
	parent, base, err := d.parent(rel)
	if err != nil {
		return err
	}
	defer parent.Close()
	if err := unix.Unlinkat(parent.fd(), base, 0); err != nil && err != unix.ENOENT {
		return &fs.PathError{Op: "remove", Path: d.show(rel), Err: err}
	}
	return nil
}

// Rename renames the entry rel beneath d, whatever it is, to name in the
// same directory; an entry already at name is replaced only when replace
// is true.
func (d *Dir) Rename(rel, name string, replace bool) error {
	if name == "" || name != filepath.Base(name) || name == "." || name == ".." {
		return &Error{Path: d.show(rel), Problem: "cannot be renamed to " + name}
	}
	parent, base, err := d.parent(rel)
	if err != nil {
		return err
	}
	defer parent.Close()
	flags := uint(unix.RENAME_NOREPLACE)
	if replace {
		flags = 0
	}
	if err := unix.Renameat2(parent.fd(), base, parent.fd(), name, flags); err != nil {
		return &fs.PathError{Op: "rename", Path: d.show(rel), Err: err}
	}
	return nil
}

// ErrWalkLimit: a walk stopped at one of its caps.
var ErrWalkLimit = errors.New("the walk stopped at its cap")

// WalkLimits cap a Walk.
type WalkLimits struct {
	Dirs    int // directories read, the root included
	Entries int // entries in one directory
	Depth   int // directories below the root
	// Restored, when set, is told of each directory of the user's own
	// that the walk gave back the user's rwx to read it (the sandbox
	// can take it away to hide what is inside).
	Restored func(note string)
}

// WalkDir is one directory a Walk reads: its path beneath the root ("."
// for the root), what it is (Ctime: when an entry was last added, removed
// or renamed in it, or it was itself renamed), and its entries' names and
// types (no entry is followed or looked at further).
type WalkDir struct {
	Rel   string
	Info  Info
	Names []string
	Types []fs.FileMode
	// Fresh: its Ctime, or an ancestor's below the root, is at or after
	// the walk's since: it may have been made or moved in since then.
	Fresh bool
}

// Walk reads every directory beneath d, depth first, each opened beneath
// its parent's handle with no link followed and no mount crossed, and
// calls visit for it; visit says whether to go into each subdirectory
// (by its index in WalkDir.Names). A directory that cannot be read is
// reported to visit with no names and err set. When a cap is reached the
// walk stops and returns an error wrapping ErrWalkLimit; everything read
// until then was visited. since marks WalkDir.Fresh.
func (d *Dir) Walk(lim WalkLimits, since time.Time, visit func(w *WalkDir, err error) (descend func(i int) bool)) error {
	fd, err := unix.Openat2(d.fd(), ".", &unix.OpenHow{Flags: unix.O_RDONLY | unix.O_DIRECTORY | unix.O_NONBLOCK | unix.O_CLOEXEC, Resolve: resolve})
	if err != nil {
		return &fs.PathError{Op: "open", Path: d.name, Err: err}
	}
	count := 0
	return d.walk(fd, ".", 0, false, lim, since, &count, visit)
}

func (d *Dir) walk(fd int, rel string, depth int, fresh bool, lim WalkLimits, since time.Time, count *int, visit func(*WalkDir, error) func(int) bool) error {
	f := os.NewFile(uintptr(fd), rel)
	defer f.Close()
	*count++
	if *count > lim.Dirs {
		return fmt.Errorf("%w: more than %d directories in %s", ErrWalkLimit, lim.Dirs, d.name)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		visit(&WalkDir{Rel: rel}, err)
		return nil
	}
	if mode := st.Mode & 0o7777; lim.Restored != nil && mode&0o700 != 0o700 && int(st.Uid) == os.Geteuid() {
		if unix.Fchmod(fd, mode|0o700) == nil {
			lim.Restored(fmt.Sprintf("%s was mode %04o: made %04o", d.show(rel), mode, mode|0o700))
		}
	}
	w := &WalkDir{Rel: rel, Info: infoOf(&st)}
	w.Fresh = fresh || (rel != "." && !w.Info.Ctime.Before(since))
	if err := readEntries(fd, w, lim.Entries); err != nil {
		if errors.Is(err, ErrWalkLimit) {
			return fmt.Errorf("%w: %s holds more than %d entries", ErrWalkLimit, d.show(rel), lim.Entries)
		}
		visit(w, err)
		return nil
	}
	descend := visit(w, nil)
	if descend == nil {
		return nil
	}
	for i, name := range w.Names {
		if w.Types[i] != fs.ModeDir || !descend(i) {
			continue
		}
		if depth+1 > lim.Depth {
			return fmt.Errorf("%w: %s is more than %d directories deep", ErrWalkLimit, d.show(filepath.Join(rel, name)), lim.Depth)
		}
		child, err := openChild(fd, name)
		if err == unix.EACCES && lim.Restored != nil {
			if note := d.restoreChild(fd, name, filepath.Join(rel, name)); note != "" {
				lim.Restored(note)
				child, err = openChild(fd, name)
			}
		}
		if err != nil {
			visit(&WalkDir{Rel: filepath.Join(rel, name)}, err)
			continue
		}
		if err := d.walk(child, filepath.Join(rel, name), depth+1, w.Fresh, lim, since, count, visit); err != nil {
			return err
		}
	}
	return nil
}

func openChild(fd int, name string) (int, error) {
	how := &unix.OpenHow{Flags: unix.O_RDONLY | unix.O_DIRECTORY | unix.O_NONBLOCK | unix.O_CLOEXEC, Resolve: resolve}
	child, err := unix.Openat2(fd, name, how)
	for err == unix.EINTR {
		child, err = unix.Openat2(fd, name, how)
	}
	return child, err
}

// restoreChild gives the directory name in fd, of the user's own, the
// user's rwx back; it says what it did ("" for nothing).
func (d *Dir) restoreChild(fd int, name, rel string) string {
	p, err := unix.Openat2(fd, name, &unix.OpenHow{Flags: unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC, Resolve: resolve})
	if err != nil {
		return ""
	}
	c := &Dir{f: os.NewFile(uintptr(p), name), name: d.show(rel)}
	defer c.Close()
	note, err := c.restoreAccess()
	if err != nil {
		return ""
	}
	return note
}

// readEntries reads the names and types of the directory open at fd into
// w, at most max of them (more: ErrWalkLimit). The type comes from the
// directory entry itself; where the file system does not give it, from
// fstatat beneath fd, not following links.
func readEntries(fd int, w *WalkDir, max int) error {
	buf := make([]byte, 32<<10)
	for {
		n, err := unix.Getdents(fd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		if n <= 0 {
			return nil
		}
		for b := buf[:n]; len(b) >= 19; {
			reclen := int(b[16]) | int(b[17])<<8
			if reclen < 19 || reclen > len(b) {
				return errors.New("malformed directory entry")
			}
			typ, name := b[18], b[19:reclen]
			if i := bytesIndexZero(name); i >= 0 {
				name = name[:i]
			}
			b = b[reclen:]
			if s := string(name); s != "." && s != ".." {
				if len(w.Names) == max {
					return ErrWalkLimit
				}
				w.Names = append(w.Names, s)
				w.Types = append(w.Types, direntType(fd, s, typ))
			}
		}
	}
}

func bytesIndexZero(b []byte) int {
	for i, c := range b {
		if c == 0 {
			return i
		}
	}
	return -1
}

func direntType(fd int, name string, typ byte) fs.FileMode {
	if typ != unix.DT_UNKNOWN {
		return kindOf(uint32(typ) << 12) // DT_* is S_IF* >> 12
	}
	var st unix.Stat_t
	if unix.Fstatat(fd, name, &st, unix.AT_SYMLINK_NOFOLLOW) != nil {
		return fs.ModeIrregular
	}
	return kindOf(st.Mode)
}
