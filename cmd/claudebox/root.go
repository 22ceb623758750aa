package main

import (
	"fmt"

	"github.com/claudebox/claudebox/launch"
	"github.com/spf13/cobra"
)

func newRootCommand() *cobra.Command {
	var (
		f            launchFlags
		gc, check    bool
		showVersion  bool
		listProfs    bool
		showProfName string
	)
	cmd := &cobra.Command{
		Use:   "claudebox [flags] [-- CLAUDE_ARGS...]",
		Short: "Run Claude Code in a rootless sandbox",
		Long: `claudebox runs Claude Code (the claude found on your PATH) in a rootless
sandbox: your project read-write, the rest of the host read-only, your home
directory and secrets hidden, and a clean environment.

Arguments after -- are passed to claude. Use "claudebox run -- CMD" to run
any other command in the same sandbox.
` + pathsHelp + "\n" + exitHelp,
		Args:          cobra.ArbitraryArgs,
		SilenceErrors: true,
		SilenceUsage:  true,
		RunE: func(cmd *cobra.Command, args []string) error {
			if showVersion {
				_, err := fmt.Fprintln(cmd.OutOrStdout(), versionLine())
				return err
			}
			if gc {
				return runGC(cmd.OutOrStdout(), gcFlags{})
			}
			if len(args) > 0 && cmd.ArgsLenAtDash() != 0 {
				return usageError(cmd, "unknown command %q; put claude's arguments after --", args[0])
			}
			switch {
			case check:
				return runCheck(cmd.OutOrStdout(), f.asJSON)
			case listProfs:
				return listProfiles(cmd.OutOrStdout(), f.asJSON)
			case showProfName != "":
				return showProfile(cmd.OutOrStdout(), showProfName, f.asJSON)
			}
			spec, err := f.resolve(nil, args)
			if err != nil {
				return err
			}
			return runSpec(spec, &f)
		},
	}
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		hint := "see " + c.CommandPath() + " --help"
		if c == cmd {
			hint += "; claude's own flags go after --: claudebox -- --resume"
		}
		return &launch.HintError{Err: err, Hint: hint}
	})
	cmd.CompletionOptions.HiddenDefaultCmd = true
	// Not cobra's Version and version template: a template reached at
	// all keeps every exported method in the binary (text/template
	// calls MethodByName), and libcontainer copies the binary into
	// memory at every launch.
	cmd.Flags().BoolVarP(&showVersion, "version", "v", false, "print claudebox's version")
	f.register(cmd.Flags())
	cmd.Flags().SetInterspersed(false) // flags after CMD are its own
	cmd.Flags().BoolVar(&gc, "gc", false, "same as claudebox gc")
	cmd.Flags().BoolVar(&check, "check", false, "same as claudebox check")
	cmd.Flags().BoolVar(&listProfs, "list-profiles", false, "list the profiles with their descriptions (--json)")
	cmd.Flags().StringVar(&showProfName, "show-profile", "", "print profile `NAME` as it resolves, secrets masked (--json)")
	cmd.AddCommand(newRunCommand(), newExportCommand(), newLsCommand(), newNetLogCommand(), newAgentLogCommand(), newGCCommand(), newCheckCommand(), newVersionCommand())
	cmd.AddCommand(newReviewCommand(), newAcceptCommand())
	return cmd
}
