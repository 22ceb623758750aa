package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/claudebox/claudebox/internal/printable"
	"github.com/claudebox/claudebox/sandbox"
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
			dir, argv, usage := exportArgs(args, cmd.ArgsLenAtDash())
			if usage != "" {
				return usageError(cmd, "%s", usage)
			}
			dir, err := filepath.Abs(dir)
			if err != nil {
				return err
			}
			spec, err := f.resolve(argv, nil)
			if err != nil {
				return err
			}
			exe, err := launcherPath()
			if err != nil {
				return fmt.Errorf("finding the claudebox binary: %w", err)
			}
			if err := sandbox.Export(sandbox.ExportOptions{Dir: dir, Spec: spec, Launcher: exe, Force: force}); err != nil {
				return err
			}
			if !f.quiet {
				fmt.Fprintf(cmd.OutOrStdout(), "Wrote an OCI bundle to %s. Run it as %s with:\n  runc --root %s run -b %s claudebox\n",
					printable.String(dir), userName(), printable.String(runcRoot()), printable.String(dir))
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

// exportArgs splits export-bundle's arguments (dash: where -- was, -1 for
// none) into the directory and the command; usage says what is wrong.
func exportArgs(args []string, dash int) (dir string, argv []string, usage string) {
	switch {
	case len(args) == 0 || dash == 0:
		return "", nil, "export-bundle needs a directory"
	case len(args) > 1 && dash != 1:
		return "", nil, "put the command after --: export-bundle DIR -- CMD"
	}
	return args[0], args[1:], ""
}
