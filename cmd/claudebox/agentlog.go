package main

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/claudebox/claudebox/state"
	"github.com/spf13/cobra"
)

func newAgentLogCommand() *cobra.Command {
	var (
		asJSON  bool
		project string
	)
	cmd := &cobra.Command{
		Use:   "agent-log",
		Short: "Show what the sandbox's ssh-agent signed and git credentials it got in this project's last session",
		Long: `Show the decisions of the ssh-agent that --ssh-agent gave the last session of
this project (the current directory's, or --project DIR): each key list,
each session binding (the host and its key's fingerprint), each signature
allowed or refused and why; and each git credential request
(--git-credential), answered or refused, without the secret. The log
lives in the project's instance, which the sandbox never sees.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			entries, found, err := readSessionLog(project, state.LastAgentLog)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if !found {
				fmt.Fprintln(out, "no --ssh-agent or --git-credential session in this project yet")
				return nil
			}
			if asJSON {
				return printJSONEntries(out, entries)
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "TIME\tEVENT\tKIND\tHOST\tKEY\tVERDICT\tWHY")
			for _, e := range entries {
				t, _ := time.Parse(time.RFC3339Nano, str(e["time"]))
				host := str(e["host"])
				if ns := str(e["namespace"]); ns != "" {
					host = "namespace " + ns
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.Local().Format(time.TimeOnly), str(e["event"]), str(e["kind"]),
					host, str(e["key"]), str(e["verdict"]), str(e["reason"]))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().StringVar(&project, "project", "", "the project `DIR` (default: the current directory's)")
	return cmd
}
