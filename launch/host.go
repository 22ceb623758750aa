package launch

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Host holds the facts about the invoking user that a launch depends on.
type Host struct {
	UID, GID int
	Home     string
	Cwd      string
	Environ  []string
	// Root is the host's root directory; "" means "/". Tests point it at a
	// temporary directory.
	Root string
	// LandlockABI is the kernel's Landlock ABI version (0: none); from
	// ScopeABI on, the sandbox's abstract sockets and signals are scoped.
	LandlockABI int
	// Groups are the user's supplementary groups; SubGID the start of its
	// first subordinate gid range (0: none); NewGIDMap whether the
	// system's newgidmap is installed. They decide Spec.SubGID.
	Groups    []int
	SubGID    int
	NewGIDMap bool
	// Sockets are the pathname unix sockets bound in the host's network
	// namespace (HostSockets); read only when the kernel's Landlock cannot
	// deny them (LandlockABI below ResolveUnixABI). CurrentHost leaves it
	// to scan, which it starts at once: the launch waits for it only
	// where it needs it, having resolved the rest meanwhile.
	Sockets []string
	scan    func() ([]string, error)
}

// sockets are Sockets, once the scan that CurrentHost started is done.
func (h Host) sockets() ([]string, error) {
	if h.scan != nil {
		return h.scan()
	}
	return h.Sockets, nil
}

// Rescan lists the host's sockets anew, as they are now.
func (h *Host) Rescan() error {
	h.scan = nil
	root := h.Root
	if root == "" {
		root = "/"
	}
	var err error
	h.Sockets, err = HostSockets(root)
	return socketScanError(err)
}

// scanSockets starts HostSockets(root), and returns what waits for it.
func scanSockets(root string) func() ([]string, error) {
	var (
		socks []string
		err   error
	)
	done := make(chan struct{})
	go func() {
		defer close(done)
		socks, err = HostSockets(root)
		err = socketScanError(err)
	}()
	return func() ([]string, error) {
		<-done
		return socks, err
	}
}

func socketScanError(err error) error {
	if err != nil {
		return withHint(err, "claudebox hides the host's unix sockets it lists there; is /proc mounted?")
	}
	return nil
}

// CurrentHost reads the facts about the running process.
func CurrentHost() (Host, error) {
	abi := LandlockABI()
	var scan func() ([]string, error)
	if abi < ResolveUnixABI {
		scan = scanSockets("/")
	}
	cwd, err := os.Getwd()
	if err != nil {
		return Host{}, fmt.Errorf("current directory: %w", err)
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return Host{}, withHint(fmt.Errorf("home directory: %w", err), "set HOME")
	}
	_, noGIDMap := HelperPath("newgidmap", "")
	h := Host{
		UID: os.Getuid(), GID: os.Getgid(), Home: home, Cwd: cwd, Environ: os.Environ(),
		LandlockABI: abi, scan: scan,
		Groups: supplementaryGroups(), SubGID: firstSubGID(os.Getuid()), NewGIDMap: noGIDMap == nil,
	}
	return h, nil
}

// canonicalHome is the home with symlinks resolved, when it exists.
func (h Host) canonicalHome() string {
	home := filepath.Clean(h.Home)
	if real, err := filepath.EvalSymlinks(home); err == nil {
		return real
	}
	return home
}

// readHostRoot lists the top-level entries of the host root that the sandbox
// root is built from.
func readHostRoot(root string) ([]TopEntry, error) {
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil, fmt.Errorf("reading host root: %w", err)
	}
	var out []TopEntry
	for _, e := range entries {
		switch e.Name() {
		case "proc", "sys", "dev", "tmp", "lost+found":
			continue
		}
		switch {
		case e.Type()&fs.ModeSymlink != 0:
			link, err := os.Readlink(filepath.Join(root, e.Name()))
			if err != nil {
				return nil, fmt.Errorf("reading host root: %w", err)
			}
			out = append(out, TopEntry{Name: e.Name(), Link: link})
		case e.IsDir():
			out = append(out, TopEntry{Name: e.Name()})
		}
	}
	return out, nil
}
