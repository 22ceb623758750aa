package main

import (
	"fmt"

	"github.com/claudebox/claudebox/launch"
	"github.com/claudebox/claudebox/sandbox"
	"github.com/spf13/cobra"
)

func newRunCommand() *cobra.Command {
	var f launchFlags
	cmd := &cobra.Command{
		Use:   "run [flags] -- CMD [ARGS...]",
		Short: "Run any command in the sandbox",
		Long: `Run CMD in the same sandbox claude gets: the project read-write, the host
read-only, home and secrets hidden, a clean environment.
` + pathsHelp + "\n" + exitHelp,
		Example: `  claudebox run -- bash
  claudebox run --env GOFLAGS --ro ~/datasets -- make test`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageError(cmd, "run needs a command")
			}
			spec, err := f.resolve(args, nil)
			if err != nil {
				return err
			}
			return runSpec(spec)
		},
	}
	f.register(cmd.Flags())
	cmd.Flags().SetInterspersed(false) // flags after CMD are its own
	return cmd
}

// runSpec runs the sandbox and turns its status into the process's.
func runSpec(spec *launch.Spec) error {
	exe, err := launcherPath()
	if err != nil {
		return fmt.Errorf("finding the claudebox binary: %w", err)
	}
	status, err := sandbox.Run(sandbox.Config{Spec: spec, Launcher: exe})
	if err != nil {
		return err
	}
	return exitStatus(status)
}

func usageError(cmd *cobra.Command, format string, a ...any) error {
	return &launch.HintError{Err: fmt.Errorf(format, a...), Hint: "see " + cmd.CommandPath() + " --help"}
}
