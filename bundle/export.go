package bundle

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/claudebox/claudebox/launch"
	"github.com/claudebox/claudebox/state"
)

// ErrNotEmpty is returned by Export for a directory that already holds files.
var ErrNotEmpty = errors.New("bundle directory is not empty")

// Names inside an exported bundle directory.
const (
	ConfigName   = "config.json"
	RootfsName   = "rootfs"
	LauncherName = "claudebox"
	CNIName      = "cni"
)

// ExportOptions are one bundle to write.
type ExportOptions struct {
	// Dir is the bundle directory.
	Dir  string
	Spec *launch.Spec
	// Launcher is the claudebox binary, copied in as the sandbox's pid 1.
	Launcher string
	// Seccomp is the compiled filter (seccomp.Program), unused with
	// --seccomp=off.
	Seccomp []byte
	// PluginDir holds the CNI bridge and host-local plugins that root's
	// inet uses ("": none to copy).
	PluginDir string
	// Resolvers are the inet tier's DNS servers (nil: the uplink's).
	Resolvers []string
	// Force replaces the bundle's own entries in a non-empty Dir.
	Force bool
}

// Export writes a self-contained bundle to o.Dir: config.json, rootfs/
// and a copy of the claudebox binary that serves as the sandbox's pid 1,
// referenced relative to the bundle so the directory can be moved. A
// non-empty directory is refused unless o.Force, in which case only the
// bundle's own entries (the names above, resolv.conf, seccomp.bpf) are
// replaced. On failure nothing of the bundle is left behind.
func Export(o ExportOptions) (err error) {
	dir, s := o.Dir, o.Spec
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if err := os.Mkdir(dir, 0o755); err != nil {
			return fmt.Errorf("creating bundle directory: %w", err)
		}
		defer func() {
			if err != nil {
				os.RemoveAll(dir)
			}
		}()
	case err != nil:
		return fmt.Errorf("reading bundle directory: %w", err)
	case len(entries) > 0 && !o.Force:
		return fmt.Errorf("%w: %s", ErrNotEmpty, dir)
	}
	names := []string{ConfigName, RootfsName, LauncherName, ResolvConfName, SeccompName, CNIName}
	for _, name := range names {
		if err := os.RemoveAll(filepath.Join(dir, name)); err != nil {
			return err
		}
	}
	defer func() {
		if err != nil {
			for _, name := range names {
				os.RemoveAll(filepath.Join(dir, name))
			}
		}
	}()
	if err := copyFile(o.Launcher, filepath.Join(dir, LauncherName), 0o755); err != nil {
		return fmt.Errorf("copying the claudebox binary: %w", err)
	}
	// runc runs the hook by absolute path: the bundle must stay where it
	// was exported. Root's hook finds the bridge plugins in cni/ beside it.
	// (none needs no hook: runc brings up the loopback.)
	l := LayoutFor(s, Places{Rootfs: RootfsName, Launcher: LauncherName, Seccomp: SeccompName, NetHook: filepath.Join(dir, LauncherName)})
	if o.PluginDir != "" {
		for _, p := range []string{"bridge", "host-local"} {
			if err := copyFile(filepath.Join(o.PluginDir, p), filepath.Join(dir, CNIName, p), 0o755); err != nil {
				return fmt.Errorf("copying the CNI %s plugin: %w", p, err)
			}
		}
	}
	if l.Seccomp != "" {
		if err := os.WriteFile(filepath.Join(dir, l.Seccomp), o.Seccomp, 0o644); err != nil {
			return err
		}
	}
	if l.ResolvConf != "" {
		if err := WriteResolvConf(filepath.Join(dir, l.ResolvConf), o.Resolvers); err != nil {
			return err
		}
	}
	oci, err := Build(s, l)
	if err != nil {
		return err
	}
	if err := NewSkeleton(s, oci, dir).Make(filepath.Join(dir, RootfsName)); err != nil {
		return fmt.Errorf("creating rootfs: %w", err)
	}
	cfg, err := json.MarshalIndent(oci, "", "\t")
	if err != nil {
		return err
	}
	return state.WriteFileAtomic(filepath.Join(dir, ConfigName), append(cfg, '\n'), 0o644)
}

func copyFile(src, dst string, perm os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
