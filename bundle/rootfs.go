package bundle

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/claudebox/claudebox/launch"
	"github.com/opencontainers/runtime-spec/specs-go"
)

// Skeleton is everything a sandbox's rootfs holds: the host's top-level
// symlinks, and a mount point for every mount that lands in the rootfs
// itself rather than inside another mount (the host's top-level
// directories, /proc, /dev, /sys, claudebox's own files). Everything else
// the sandbox sees is mounted.
//
// With every mount point made beforehand, the runtime writes nothing into
// the rootfs, and a read-only rootfs is the same for every launch of the
// same shape: launches share one, named by its Key, instead of making and
// removing twenty-odd directories each (3-5 ms of every launch).
type Skeleton struct {
	entries []skelEntry // sorted by path
}

type skelEntry struct {
	path string // relative to the rootfs
	kind byte   // 'd' directory, 'f' empty file (a file's mount point), 'l' symlink
	link string
}

// NewSkeleton is the rootfs of the configuration oci built from s. A bind
// mount's source is looked at (a file needs a file as mount point);
// relative sources are relative to base.
func NewSkeleton(s *launch.Spec, oci *specs.Spec, base string) Skeleton {
	seen := map[string]bool{}
	var k Skeleton
	add := func(e skelEntry) {
		if !seen[e.path] {
			seen[e.path] = true
			k.entries = append(k.entries, e)
		}
	}
	for name, target := range Symlinks(s) {
		add(skelEntry{path: name, kind: 'l', link: target})
	}
	for i, m := range oci.Mounts {
		dst := filepath.Clean(m.Destination)
		if slices.ContainsFunc(oci.Mounts[:i], func(p specs.Mount) bool { return launch.Within(dst, filepath.Clean(p.Destination)) }) {
			continue // inside an earlier mount, not in the rootfs
		}
		rel := strings.TrimPrefix(dst, "/")
		for dir := filepath.Dir(rel); dir != "."; dir = filepath.Dir(dir) {
			add(skelEntry{path: dir, kind: 'd'})
		}
		kind := byte('d')
		switch {
		case dst == LauncherPath || dst == SeccompPath || dst == launch.SSHAgentSocket || dst == launch.GitCredentialSocket:
			// claudebox's own files: files whether or not made yet (a
			// dry run names the filter by placeholder).
			kind = 'f'
		case m.Type == "bind":
			src := m.Source
			if !filepath.IsAbs(src) {
				src = filepath.Join(base, src)
			}
			if fi, err := os.Stat(src); err == nil && !fi.IsDir() {
				kind = 'f'
			}
		}
		add(skelEntry{path: rel, kind: kind})
	}
	slices.SortFunc(k.entries, func(a, b skelEntry) int { return strings.Compare(a.path, b.path) })
	return k
}

// Key names the skeleton by its contents.
func (k Skeleton) Key() string {
	h := sha256.New()
	for _, e := range k.entries {
		fmt.Fprintf(h, "%c %s %s\n", e.kind, e.path, e.link)
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// Make creates the skeleton as dir, which must not exist.
func (k Skeleton) Make(dir string) error {
	if err := os.Mkdir(dir, 0o755); err != nil {
		return err
	}
	for _, e := range k.entries { // sorted: parents first
		p := filepath.Join(dir, e.path)
		var err error
		switch e.kind {
		case 'd':
			err = os.Mkdir(p, 0o755)
		case 'f':
			err = os.WriteFile(p, nil, 0o644)
		case 'l':
			err = os.Symlink(e.link, p)
		}
		if err != nil {
			return err
		}
	}
	return nil
}
