package sandbox

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/claudebox/claudebox/bundle"
	"github.com/claudebox/claudebox/launch"
	"github.com/claudebox/claudebox/network"
	"github.com/claudebox/claudebox/seccomp"
	"github.com/claudebox/claudebox/state"
)

// ExportOptions are one export-bundle.
type ExportOptions struct {
	// Dir is the bundle directory, absolute; new or empty unless Force.
	Dir  string
	Spec *launch.Spec
	// Launcher is the claudebox binary, copied in as the sandbox's pid 1.
	Launcher string
	// Force replaces the bundle's own entries in a non-empty Dir.
	Force bool
}

// Export writes the sandbox of a launch as a bundle that plain runc runs
// (bundle.Export), with the compiled seccomp filter, root's CNI plugins
// when its network needs them, and the project's protected paths and
// instance made as a launch makes them: the instance only once the bundle
// is written, so a refused export leaves none behind. A directory the
// sandbox could write is refused: the bundle's claudebox, hook and
// config.json run on the host at runc run.
func Export(o ExportOptions) error {
	s := o.Spec
	if s.SSHAgent != nil || s.GitCredentials != nil {
		return &launch.HintError{
			Err:  fmt.Errorf("export-bundle: --ssh-agent and --git-credential cannot be exported: they are served by claudebox's launcher, which plain runc does not start"),
			Hint: "export without them, or launch with claudebox itself",
		}
	}
	if s.Network.Tier == launch.TierAllowlist {
		return &launch.HintError{
			Err:  fmt.Errorf("export-bundle: the allowlist tier cannot be exported: its relay and DNS stub run in claudebox's launcher, which plain runc does not start"),
			Hint: "export with --network none or inet, or launch the allowlist tier with claudebox itself",
		}
	}
	if len(s.Publish) > 0 && s.Network.Tier != launch.TierFull {
		return &launch.HintError{
			Err:  fmt.Errorf("export-bundle: --publish %s cannot be exported: claudebox's launcher listens on the host and passes the connections in, and plain runc does not start it", s.Publish[0]),
			Hint: "export without --publish (or its profile's publish), or launch with claudebox itself to publish; in --network full the sandbox's servers are on the host already",
		}
	}
	if tree, ok := s.WritableTree(canonical(o.Dir)); ok {
		return &launch.HintError{
			Err:  fmt.Errorf("export-bundle %s: it is inside %s, which the sandbox can write: its claudebox and config.json run on the host at runc run", o.Dir, tree),
			Hint: "export to a directory the sandbox cannot write, such as /tmp/box or ~/bundles/NAME",
		}
	}
	e := bundle.ExportOptions{Dir: o.Dir, Spec: s, Launcher: o.Launcher, Force: o.Force, Resolvers: network.ResolvConfServers(s.Network.Tier, false)}
	if !s.NoSeccomp {
		prog, _, err := seccomp.Program(bundle.Pid1Caps(s))
		if err != nil {
			return err
		}
		e.Seccomp = prog
	}
	if network.NeedsPlugins(s.Network.Tier) {
		dir, err := network.PluginDir(o.Launcher)
		if err != nil {
			return err
		}
		e.PluginDir = dir
	}
	if err := state.PrepareProtected(s); err != nil {
		return err
	}
	if err := bundle.Export(e); err != nil {
		hint := "give a new or empty directory you can write to"
		if errors.Is(err, bundle.ErrNotEmpty) {
			hint = "give an empty directory, or --force to replace the bundle in it"
		}
		return &launch.HintError{Err: fmt.Errorf("export-bundle %s: %w", o.Dir, err), Hint: hint}
	}
	if s.Instance != nil {
		return state.EnsureInstance(s.Instance, s.Home)
	}
	return nil
}

// canonical resolves the symlinks of the longest existing part of p, an
// absolute path, and keeps the rest as it is.
func canonical(p string) string {
	rest := ""
	for d := p; ; d = filepath.Dir(d) {
		if real, err := filepath.EvalSymlinks(d); err == nil {
			return filepath.Join(real, rest)
		}
		if d == "/" {
			return p
		}
		rest = filepath.Join(filepath.Base(d), rest)
	}
}
