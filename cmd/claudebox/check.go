package main

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/claudebox/claudebox/internal/printable"
	"github.com/claudebox/claudebox/launch"
	"github.com/claudebox/claudebox/preflight"
	"github.com/spf13/cobra"
)

func newCheckCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Verify that claudebox can run here and that its isolation holds",
		Long: `Check the prerequisites (user namespaces, the state and runtime directories,
claude, the CNI plugins, slirp4netns, /dev/net/tun), then launch real
sandboxes and verify from inside that a planted secret is invisible, the host
is read-only, the environment is clean, and each network tier holds. One line
per check: PASS (verified), WARN, or FAIL with the fix. Exits 1 if anything
failed. Also: claudebox --check.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runCheck(cmd.OutOrStdout(), asJSON) },
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the results as JSON")
	return cmd
}

func runCheck(out io.Writer, asJSON bool) error {
	exe, err := launcherPath()
	if err != nil {
		return err
	}
	host, err := launch.CurrentHost()
	if err != nil {
		return err
	}
	dir, err := stateDir()
	if err != nil {
		return err
	}
	results := preflight.Run(preflight.Options{Launcher: exe, Host: host, StateDir: dir})
	failed := 0
	for _, r := range results {
		if r.Status == preflight.Fail {
			failed++
		}
	}
	if asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(results); err != nil {
			return err
		}
	} else {
		readVersion().print(out) // what a bug report starts with
		fmt.Fprintln(out)
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		for _, r := range results {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", r.Status, r.Name, printable.String(r.Detail))
			if r.Fix != "" && r.Status != preflight.Pass {
				fmt.Fprintf(tw, "\t\tfix: %s\n", printable.String(r.Fix))
			}
		}
		tw.Flush()
		if failed == 0 {
			fmt.Fprintln(out, "claudebox: all checks passed")
		}
	}
	if failed > 0 {
		return &checkFailed{failed}
	}
	return nil
}

// checkFailed makes --check exit 1 after its own report.
type checkFailed struct{ n int }

func (c *checkFailed) Error() string { return fmt.Sprintf("%d check(s) failed", c.n) }
