package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/claudebox/claudebox/audit"
	"github.com/claudebox/claudebox/launch"
	"github.com/claudebox/claudebox/network"
	"github.com/claudebox/claudebox/sandbox"
	"github.com/spf13/cobra"
	"golang.org/x/term"
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
			return runSpec(spec, &f)
		},
	}
	f.register(cmd.Flags())
	cmd.Flags().SetInterspersed(false) // flags after CMD are its own
	return cmd
}

// runSpec shows the plan, asks, runs the sandbox and turns its status into
// the process's. With --dry-run it only shows the plan.
func runSpec(spec *launch.Spec, f *launchFlags) error {
	exe, err := launcherPath()
	if err != nil {
		return fmt.Errorf("finding the claudebox binary: %w", err)
	}
	if f.dryRun {
		return dryRun(os.Stdout, spec, exe, f.asJSON)
	}
	// Do not show a plan, nor ask, for a launch that cannot happen.
	if err := sandbox.CheckUserNS(); err != nil {
		return err
	}
	// The published ports are bound first: a port that cannot be is
	// refused before the plan, and nothing starts.
	pub, err := listenPublish(spec, f.quiet)
	if err != nil {
		return err
	}
	defer pub.Close()
	if !f.quiet {
		fmt.Fprintln(os.Stderr, "claudebox: launch plan")
		if err := audit.Render(os.Stderr, spec); err != nil {
			return err
		}
		if confirmNeeded(f) && !confirm(os.Stdin, os.Stderr) {
			fmt.Fprintln(os.Stderr, "claudebox: not launched")
			return exitStatus(1)
		}
	}
	status, err := sandbox.Run(sandbox.Config{Spec: spec, Launcher: exe, Publish: pub})
	if err != nil {
		return err
	}
	return exitStatus(status)
}

// listenPublish binds the host side of the launch's published ports; nil
// for none, and in the full tier, where the sandbox's servers listen on
// the host themselves. Unless quiet, the launch says when each is served.
func listenPublish(spec *launch.Spec, quiet bool) (*network.Publisher, error) {
	if len(spec.Publish) == 0 || spec.Network.Tier == launch.TierFull {
		return nil, nil
	}
	var notify io.Writer = os.Stderr
	switch {
	case quiet:
		notify = nil
	case spec.TTY:
		notify = rawLines{os.Stderr} // the terminal is in raw mode then
	}
	return network.Listen(spec.Publish, notify)
}

// rawLines ends lines with CR LF, for a terminal in raw mode (the
// sandbox's pty is attached to it).
type rawLines struct{ w io.Writer }

func (r rawLines) Write(b []byte) (int, error) {
	if _, err := r.w.Write(bytes.ReplaceAll(b, []byte("\n"), []byte("\r\n"))); err != nil {
		return 0, err
	}
	return len(b), nil
}

// dryRun prints the plan, or with asJSON the OCI configuration a launch
// would hand libcontainer (sandbox.DryRunConfig: the same rendering, with
// placeholders for what the launch makes).
func dryRun(w io.Writer, spec *launch.Spec, exe string, asJSON bool) error {
	if asJSON {
		oci, err := sandbox.DryRunConfig(spec, exe)
		if err != nil {
			return err
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "\t")
		return enc.Encode(oci)
	}
	if err := audit.Render(w, spec); err != nil {
		return err
	}
	fmt.Fprintln(w, "claudebox: dry run, nothing was started or created")
	return nil
}

// confirmNeeded: ask only a person, and only when not told not to.
func confirmNeeded(f *launchFlags) bool {
	return !f.yes && os.Getenv("CLAUDEBOX_YES") != "1" && term.IsTerminal(int(os.Stdin.Fd()))
}

// confirm asks "Launch? [Y/n]"; Enter means yes.
func confirm(in io.Reader, out io.Writer) bool {
	fmt.Fprint(out, "Launch? [Y/n] ")
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && line == "" {
		fmt.Fprintln(out)
		return false
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "", "y", "yes":
		return true
	}
	return false
}

func usageError(cmd *cobra.Command, format string, a ...any) error {
	return &launch.HintError{Err: fmt.Errorf(format, a...), Hint: "see " + cmd.CommandPath() + " --help"}
}
