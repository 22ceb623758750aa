package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/claudebox/claudebox/bundle"
	"github.com/claudebox/claudebox/launch"
	"github.com/claudebox/claudebox/network"
	"github.com/claudebox/claudebox/seccomp"
	"github.com/claudebox/claudebox/state"
	"github.com/spf13/cobra"
)

func newExportCommand() *cobra.Command {
	var (
		f     launchFlags
		force bool
	)
	cmd := &cobra.Command{
		Use:   "export-bundle [flags] DIR [-- CMD [ARGS...]]",
		Short: "Write the sandbox as an OCI bundle that runc can run",
		Long: `Write DIR/config.json, DIR/rootfs and a copy of claudebox (the sandbox's
pid 1) for the same sandbox a launch gets, then print how to run it with
plain runc, as the same user. Without CMD the bundle runs claude.

The bundle records your uid and gid, and whether stdin is a terminal now:
export from a terminal to get an interactive bundle. With --network none or
inet, an OCI hook attaches the same network under runc (the bundle must
then stay where it was exported).
` + pathsHelp,
		Example: `  claudebox export-bundle /tmp/box -- bash
  runc --root "$XDG_RUNTIME_DIR/runc" run -b /tmp/box claudebox`,
		RunE: func(cmd *cobra.Command, args []string) error {
			dash := cmd.ArgsLenAtDash()
			if len(args) == 0 || dash == 0 {
				return usageError(cmd, "export-bundle needs a directory")
			}
			if len(args) > 1 && dash != 1 {
				return usageError(cmd, "put the command after --: export-bundle DIR -- CMD")
			}
			dir, err := filepath.Abs(args[0])
			if err != nil {
				return err
			}
			spec, err := f.resolve(args[1:], nil)
			if err != nil {
				return err
			}
			// The bundle's pid 1, hook and config.json are run by runc on
			// the host: a sandbox must not be able to change them.
			if tree, ok := spec.WritableTree(canonical(dir)); ok {
				return &launch.HintError{
					Err:  fmt.Errorf("export-bundle %s: it is inside %s, which the sandbox can write: its claudebox and config.json run on the host at runc run", dir, tree),
					Hint: "export to a directory the sandbox cannot write, such as /tmp/box or ~/bundles/NAME",
				}
			}
			exe, err := launcherPath()
			if err != nil {
				return fmt.Errorf("finding the claudebox binary: %w", err)
			}
			var prog []byte
			if !spec.NoSeccomp {
				if prog, _, err = seccomp.Program(bundle.Pid1Caps(spec)); err != nil {
					return err
				}
			}
			plugins := ""
			if network.NeedsPlugins(spec.Network.Tier) {
				if plugins, err = network.PluginDir(exe); err != nil {
					return err
				}
			}
			if err := state.PrepareProtected(spec); err != nil {
				return err
			}
			if err := bundle.Export(dir, spec, exe, prog, plugins, network.ResolvConfServers(spec.Network.Tier), force); err != nil {
				hint := "give a new or empty directory you can write to"
				if errors.Is(err, bundle.ErrNotEmpty) {
					hint = "give an empty directory, or --force to replace the bundle in it"
				}
				return &launch.HintError{Err: fmt.Errorf("export-bundle %s: %w", dir, err), Hint: hint}
			}
			// The bundle mounts the project's instance home: make it only
			// once the bundle is written, so a refused export leaves no
			// instance behind.
			if spec.Instance != nil {
				if err := state.EnsureInstance(spec.Instance, spec.Home); err != nil {
					return err
				}
			}
			if !f.quiet {
				fmt.Fprintf(cmd.OutOrStdout(), "Wrote an OCI bundle to %s. Run it as %s with:\n  runc --root %s run -b %s claudebox\n",
					dir, userName(), runcRoot(), dir)
			}
			return nil
		},
	}
	f.register(cmd.Flags())
	cmd.Flags().BoolVar(&force, "force", false, "replace the bundle in a non-empty DIR")
	return cmd
}

func runcRoot() string {
	if os.Geteuid() != 0 {
		return `"${XDG_RUNTIME_DIR:-$HOME/.cache}/runc"`
	}
	return "/run/runc"
}

func userName() string {
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	return fmt.Sprintf("uid %d", os.Getuid())
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
