package sandbox

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/claudebox/claudebox/bundle"
	"github.com/claudebox/claudebox/launch"
	"github.com/claudebox/claudebox/state"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// places are where a launch's own files are: the runtime directory (the
// rootfs skeletons), the launch's directory (inet's resolv.conf), the
// compiled seccomp filter, and for inet the namespace holder's /proc
// directory. A dry run, which makes none of them, names the last three by
// placeholder (dryRunPlaces).
type places struct {
	runtimeDir, launchDir, seccomp, holder string
}

// The placeholders of a dry run for what a launch makes.
const (
	LaunchDirPlaceholder = "$LAUNCH_DIR"
	SeccompPlaceholder   = "$SECCOMP_PROGRAM"
	HolderPlaceholder    = "/proc/$HOLDER_PID"
)

// launchConfig is the one rendering of a launch's OCI configuration: the
// configuration a launch hands libcontainer, and the one --dry-run --json
// prints. It returns the rootfs skeleton it names too, for the launch to
// make.
func launchConfig(s *launch.Spec, launcher string, p places) (*specs.Spec, bundle.Skeleton, error) {
	// The skeleton's name comes from the mounts, which depend on the
	// rootfs's path only for their order (by the tree it is in): the
	// runtime directory's.
	l := bundle.LayoutFor(s, bundle.Places{Rootfs: filepath.Join(p.runtimeDir, skeletonPrefix), Launcher: launcher,
		Seccomp: p.seccomp, Dir: p.launchDir, ParentFD: lifelineFD})
	oci, err := bundle.Build(s, l)
	if err != nil {
		return nil, bundle.Skeleton{}, err
	}
	k := bundle.NewSkeleton(s, oci, "")
	oci.Root.Path = filepath.Join(p.runtimeDir, skeletonPrefix+k.Key())
	if s.Network.Tier.Attached() {
		joinHolder(oci, p.holder)
	}
	return oci, k, nil
}

// joinHolder points the configuration's user and network namespaces at the
// holder's (its /proc directory): the inet sandbox joins them instead of
// making its own. The user namespace's mappings are the holder's then.
func joinHolder(oci *specs.Spec, holder string) {
	for i, ns := range oci.Linux.Namespaces {
		switch ns.Type {
		case specs.UserNamespace:
			oci.Linux.Namespaces[i].Path = holder + "/ns/user"
		case specs.NetworkNamespace:
			oci.Linux.Namespaces[i].Path = holder + "/ns/net"
		}
	}
	oci.Linux.UIDMappings, oci.Linux.GIDMappings = nil, nil
}

// DryRunConfig is the configuration a launch of s would hand
// libcontainer, with placeholders for what the launch makes: its
// directory ($LAUNCH_DIR), the compiled seccomp filter, cached at the
// first launch ($SECCOMP_PROGRAM), and inet's namespace holder
// (/proc/$HOLDER_PID). It makes nothing.
func DryRunConfig(s *launch.Spec, launcher string) (*specs.Spec, error) {
	rt, err := state.RuntimeDirPath()
	if err != nil {
		return nil, err
	}
	oci, _, err := launchConfig(s, launcher, places{runtimeDir: rt, launchDir: LaunchDirPlaceholder, seccomp: SeccompPlaceholder, holder: HolderPlaceholder})
	return oci, err
}

// dumpConfig writes oci to the file CLAUDEBOX_DUMP_CONFIG names, when it
// is set, with what this launch made (p) written as a dry run's
// placeholders: it then reads as --dry-run --json prints, for comparing.
func dumpConfig(oci *specs.Spec, p places) error {
	path := os.Getenv("CLAUDEBOX_DUMP_CONFIG")
	if path == "" {
		return nil
	}
	b, err := json.MarshalIndent(oci, "", "\t")
	if err != nil {
		return err
	}
	// The filter first: when not cached it is in the launch directory.
	var pairs []string
	for _, r := range [][2]string{{p.seccomp, SeccompPlaceholder}, {p.holder, HolderPlaceholder}, {p.launchDir, LaunchDirPlaceholder}} {
		if r[0] != "" {
			pairs = append(pairs, quotedPrefix(r[0]), quotedPrefix(r[1]))
		}
	}
	b = []byte(strings.NewReplacer(pairs...).Replace(string(b)))
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("CLAUDEBOX_DUMP_CONFIG: %w", err)
	}
	return nil
}

// quotedPrefix is how a path starts a JSON string.
func quotedPrefix(p string) string { return `"` + p }
