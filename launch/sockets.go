package launch

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// Host daemons listen on pathname unix sockets, and a read-only mount does
// not stop connect(2): the kernel checks write permission on the socket's
// inode, not the mount's flags. So no daemon socket of the host is left
// within reach, in any tier, unless the user shows it on purpose:
//   - /run, where daemons keep their sockets, is an empty tmpfs with back
//     only what programs read there (RunView);
//   - sockets elsewhere are out of reach by one of two mechanisms
//     (Sockets.Mechanism): Landlock's LANDLOCK_ACCESS_FS_RESOLVE_UNIX
//     (ABI 9, Linux 7.1), which denies connecting to any socket bound
//     outside the sandbox's own domain but for the paths granted; or, on
//     older kernels, hiding every socket the host's /proc/net/unix lists
//     at launch.

// Socket mechanisms, as the plan and --check name them.
const (
	// SocketsLandlock: Landlock denies connecting to a host socket.
	SocketsLandlock = "landlock"
	// SocketsHidden: the host's sockets found at launch are hidden.
	SocketsHidden = "hidden"
)

// ResolveUnixABI is the first Landlock ABI that restricts connecting to
// pathname unix sockets (LANDLOCK_ACCESS_FS_RESOLVE_UNIX, Linux 7.1).
const ResolveUnixABI = 9

// NixDaemonSocket is the Nix daemon's socket: shown in every tier when it
// exists, so that nix works inside (it builds as the daemon's users, not
// as the sandbox).
const NixDaemonSocket = "/nix/var/nix/daemon-socket/socket"

// maxHiddenSockets bounds the sockets hidden one by one: past it, the
// launch refuses rather than leave one in reach.
const maxHiddenSockets = 4096

// maxShownSockets bounds the sockets shown on purpose: pid1 grants each to
// Landlock from its arguments, and holds that many (internal/pid1), and
// claudebox's own two (the ssh-agent's, git's credentials).
const maxShownSockets = 64

// Socket is a host socket, or a directory of them, shown on purpose.
type Socket struct {
	// Path is canonical.
	Path string `json:"path"`
	// Why is "nix daemon", "--socket" or "profile".
	Why string `json:"why"`
}

// Sockets says which host sockets the sandbox can reach.
type Sockets struct {
	// Mechanism is SocketsLandlock or SocketsHidden.
	Mechanism string `json:"mechanism"`
	// Shown are the sockets (or directories of them) shown on purpose:
	// the Nix daemon's, --socket and the profile's sockets.
	Shown []Socket `json:"shown,omitempty"`
	// Hidden are the host's sockets outside /run found at launch, each
	// hidden (SocketsHidden only).
	Hidden []string `json:"hidden,omitempty"`
}

// RunView is what the sandbox's /run shows: an empty tmpfs, the sandbox's
// own runtime directory (XDG_RUNTIME_DIR), and bound back read-only the
// few host entries programs read there.
type RunView struct {
	// Keep are host paths under /run bound back read-only: the target of
	// /etc/resolv.conf when it lies there (systemd-resolved), NixOS's
	// system profile, setuid wrappers and driver links.
	Keep []string `json:"keep,omitempty"`
	// RuntimeDir is the sandbox's own, private /run/user/UID.
	RuntimeDir string `json:"runtimeDir"`
}

// runKept are the /run entries shown back when they exist: NixOS puts its
// system profile, the wrappers on PATH and the GL drivers there.
var runKept = []string{"current-system", "booted-system", "wrappers", "opengl-driver"}

// resolveRun decides the sandbox's /run, when the host has a /run
// directory (nil otherwise: then the host has nothing there to hide).
func resolveRun(root string, uid int) *RunView {
	run := filepath.Join(root, "run")
	if fi, err := os.Lstat(run); err != nil || !fi.IsDir() {
		return nil
	}
	v := &RunView{RuntimeDir: "/run/user/" + strconv.Itoa(uid)}
	if real, err := filepath.EvalSymlinks(filepath.Join(root, "etc/resolv.conf")); err == nil && Within(real, run) {
		v.Keep = append(v.Keep, hostPath(root, real))
	}
	for _, n := range runKept {
		if _, err := os.Stat(filepath.Join(run, n)); err == nil {
			v.Keep = append(v.Keep, "/run/"+n)
		}
	}
	return v
}

// hostPath is p, a path under root, as the host names it.
func hostPath(root, p string) string {
	if root = filepath.Clean(root); root == "/" {
		return p
	}
	return "/" + strings.TrimPrefix(strings.TrimPrefix(p, root), "/")
}

// resolveSockets decides how host sockets are kept out of reach, and
// checks the ones shown on purpose (--socket, the profile's): each must be
// a socket or a directory.
func resolveSockets(h Host, named []Socket, run *RunView, home, instanceHome string, mounts []Mount) (Sockets, error) {
	s := Sockets{Mechanism: SocketsHidden}
	if h.LandlockABI >= ResolveUnixABI {
		s.Mechanism = SocketsLandlock
	}
	if fi, err := os.Stat(filepath.Join(h.Root, NixDaemonSocket)); err == nil && fi.Mode()&fs.ModeSocket != 0 {
		s.Shown = append(s.Shown, Socket{Path: NixDaemonSocket, Why: "nix daemon"})
	}
	for _, n := range named {
		fi, err := os.Stat(n.Path)
		if err != nil {
			return s, withHint(fmt.Errorf("%w: %s %s: %w", ErrBadPath, n.Why, n.Path, unwrapPathError(err)), "name an existing socket, or a directory of sockets")
		}
		if fi.Mode()&fs.ModeSocket == 0 && !fi.IsDir() {
			return s, withHint(fmt.Errorf("%w: %s %s is neither a socket nor a directory", ErrBadPath, n.Why, n.Path),
				"name a unix socket (e.g. /run/postgresql/.s.PGSQL.5432) or the directory that holds it (/run/postgresql)")
		}
		if !slices.ContainsFunc(s.Shown, func(o Socket) bool { return o.Path == n.Path }) {
			s.Shown = append(s.Shown, n)
		}
	}
	if len(s.Shown) > maxShownSockets {
		return s, withHint(fmt.Errorf("%w: %d sockets shown with --socket, more than %d", ErrBadPath, len(s.Shown), maxShownSockets),
			"show the directory that holds them instead")
	}
	if s.Mechanism == SocketsLandlock {
		return s, nil
	}
	hostSockets, err := h.sockets()
	if err != nil {
		return s, err
	}
	for _, p := range hostSockets {
		if slices.ContainsFunc(s.Shown, func(o Socket) bool { return Within(p, o.Path) }) {
			continue
		}
		for _, at := range visibleAt(p, run != nil, home, instanceHome, mounts) {
			if !slices.Contains(s.Hidden, at) {
				s.Hidden = append(s.Hidden, at)
			}
		}
	}
	if len(s.Hidden) > maxHiddenSockets {
		return s, withHint(fmt.Errorf("%d unix sockets are bound where the sandbox would see them, more than the %d claudebox hides one by one", len(s.Hidden), maxHiddenSockets),
			"run on a kernel with Landlock ABI 9 (Linux 7.1), which denies them all by construction, or stop what holds them (another session of this project?)")
	}
	return s, nil
}

// visibleAt lists where the host path p shows inside the sandbox: at its
// own path, unless a place of the sandbox's own covers it (ownPlace); in
// $HOME when it lies in the instance's home ("" for none), which is
// bound there; and wherever a mount shows it.
func visibleAt(p string, ownRun bool, home, instanceHome string, mounts []Mount) []string {
	var at []string
	if !ownPlace(p, ownRun, home) {
		at = append(at, p)
	}
	if instanceHome != "" && Within(p, instanceHome) {
		at = append(at, filepath.Join(home, strings.TrimPrefix(p, instanceHome)))
	}
	for _, m := range mounts {
		if Within(p, m.Path) {
			at = append(at, filepath.Join(m.Dest(), strings.TrimPrefix(p, m.Path)))
		}
	}
	return at
}

// ownPlace reports whether the host path p lies where the sandbox has a
// place of its own instead of the host's: the home, /tmp, /var/tmp, /dev,
// /proc, /sys, and /run when it is the sandbox's (ownRun).
func ownPlace(p string, ownRun bool, home string) bool {
	own := []string{home, "/tmp", "/var/tmp", "/dev", "/proc", "/sys"}
	if ownRun {
		own = append(own, "/run")
	}
	return slices.ContainsFunc(own, func(d string) bool { return Within(p, d) })
}

// Bound reports whether the socket shown on purpose at p must be bound
// into the sandbox: it lies in a place of the sandbox's own, where the
// host's is not seen.
func (s *Spec) Bound(p string) bool { return ownPlace(p, s.Run != nil, s.Home) }

// HostSockets lists the pathname unix sockets bound in every network
// namespace that a process of the host is in, canonical (symlinks in
// their directory resolved), that are sockets still. /proc/net/unix lists
// a single namespace's sockets, but connect(2) by path crosses
// namespaces, and daemons run in namespaces of their own (systemd's
// PrivateNetwork=, containers, ip netns): so each process's
// /proc/PID/net/unix is read, once per namespace (the file's inode names
// it, and reading it needs no privilege). A path bound relative to another
// process's working directory or root cannot be placed and is left out
// (SECURITY.md).
func HostSockets(root string) ([]string, error) {
	proc, err := os.Open(filepath.Join(root, "proc"))
	if err != nil {
		return nil, fmt.Errorf("listing the host's unix sockets: %w", err)
	}
	defer proc.Close()
	names, err := proc.Readdirnames(-1)
	if err != nil {
		return nil, fmt.Errorf("listing the host's unix sockets: %w", err)
	}
	pids := netNamespaces(int(proc.Fd()), names)
	if len(pids) == 0 {
		return nil, fmt.Errorf("listing the host's unix sockets: no /proc/PID/net/unix under %s", root)
	}
	// Directories resolved once each: a sandbox can bind (and unlink) many
	// sockets through long chains of links, and every launch reads them.
	dirs := map[string]string{}
	canon := func(p string) (string, bool) {
		parent := filepath.Join(root, filepath.Dir(p))
		dir, ok := dirs[parent]
		if !ok {
			dir, _ = filepath.EvalSymlinks(parent)
			if len(dirs) < 1<<16 {
				dirs[parent] = dir
			}
		}
		if dir == "" {
			return "", false
		}
		real := filepath.Join(dir, filepath.Base(p))
		fi, err := os.Lstat(real)
		return hostPath(root, real), err == nil && fi.Mode()&fs.ModeSocket != 0
	}
	var out []string
	for _, pid := range pids {
		f, err := os.Open(filepath.Join(root, "proc", pid, "net/unix"))
		if err != nil {
			continue // gone since
		}
		out, err = parseUnixSockets(f, out, canon)
		f.Close()
		if err != nil {
			return nil, err
		}
	}
	slices.Sort(out)
	return out, nil
}

// netNamespaces returns one process (of names, the entries of the /proc
// open at procfd) in each network namespace: the inode of
// /proc/PID/net/unix names the namespace. A lookup each, under /proc, is
// the scan's cost (about 10 µs), so it is spread over the CPUs.
func netNamespaces(procfd int, names []string) []string {
	workers := min(runtime.NumCPU(), 4)
	var (
		mu   sync.Mutex
		seen = map[uint64]string{}
		wg   sync.WaitGroup
	)
	for w := range workers {
		wg.Go(func() {
			for i := w; i < len(names); i += workers {
				n := names[i]
				if n[0] < '1' || n[0] > '9' {
					continue
				}
				var st unix.Stat_t
				if unix.Fstatat(procfd, n+"/net/unix", &st, 0) != nil {
					continue // gone
				}
				mu.Lock()
				if _, ok := seen[st.Ino]; !ok {
					seen[st.Ino] = n
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	pids := slices.Collect(maps.Values(seen))
	slices.Sort(pids)
	return pids
}

// parseUnixSockets reads one /proc/net/unix and appends to out the paths
// that are absolute, as canon places them, each once. A line is
// "ADDR: REFCOUNT PROTOCOL FLAGS TYPE ST INODE[ PATH]", the numbers of
// fixed width but the inode (%5lu); the path is the rest of the line,
// bytes as bound, unescaped: so it is taken whole (spaces, tabs, a
// trailing space or carriage return included), and a line that does not
// start an entry continues the path before it (a newline in the name).
func parseUnixSockets(r io.Reader, out []string, canon func(string) (string, bool)) ([]string, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	var path string
	named := false
	flush := func() {
		if named && strings.HasPrefix(path, "/") {
			if real, ok := canon(filepath.Clean(path)); ok && !slices.Contains(out, real) {
				out = append(out, real)
			}
		}
		named = false
	}
	first := true
	for {
		line, err := br.ReadString('\n')
		if len(line) > 0 {
			line = strings.TrimSuffix(line, "\n")
			switch p, ok, isEntry := unixEntryPath(line); {
			case first: // the header
				first = false
			case isEntry:
				flush()
				path, named = p, ok
			case named:
				path += "\n" + line
			}
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("listing the host's unix sockets: %w", err)
		}
	}
	flush()
	return out, nil
}

// unixEntryPath parses one line of /proc/net/unix: whether it starts an
// entry, and its path when it has one.
func unixEntryPath(line string) (path string, named, entry bool) {
	addr, rest, ok := strings.Cut(line, ": ")
	if !ok || addr == "" || strings.Trim(addr, "0123456789abcdefABCDEF") != "" {
		return "", false, false
	}
	// "%08X %08X %08X %04X %02X " then the inode, "%5lu".
	const fixed = 9 + 9 + 9 + 5 + 3
	if len(rest) < fixed {
		return "", false, false
	}
	i := fixed
	for i < len(rest) && rest[i] == ' ' {
		i++
	}
	start := i
	for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
		i++
	}
	if i == start {
		return "", false, false
	}
	if i < len(rest) && rest[i] == ' ' {
		return rest[i+1:], true, true
	}
	return "", false, i == len(rest)
}
