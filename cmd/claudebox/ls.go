package main

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/claudebox/claudebox/internal/printable"
	"github.com/claudebox/claudebox/state"
	"github.com/spf13/cobra"
)

func newLsCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "ls",
		Short: "List the per-project instances",
		Long: `List the per-project instances under ~/.claudebox/instances: the project
root, the instance id, its size, when it was last used, and its state:
live (a sandbox runs in it), idle, project missing (gc removes it),
or what is wrong with it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dir, err := stateDir()
			if err != nil {
				return err
			}
			list, err := state.ListInstances(dir)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				if list == nil {
					list = []state.InstanceInfo{}
				}
				return enc.Encode(list)
			}
			if len(list) == 0 {
				fmt.Fprintln(out, "no instances yet")
				return nil
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "PROJECT\tID\tSIZE\tLAST USED\tSTATE")
			for _, in := range list {
				project, last := "?", "?"
				if in.Meta != nil {
					project, last = in.Meta.Project, in.Meta.LastUsed.Local().Format(time.DateTime)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", printable.String(project), printable.String(in.ID), humanBytes(in.Size), last, printable.String(instanceState(in)))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func instanceState(in state.InstanceInfo) string {
	switch {
	case in.Live:
		return "live"
	case in.Meta == nil || in.MetaErr != "":
		return "broken: " + in.MetaErr
	case !in.ProjectExists:
		return "project missing"
	}
	return "idle"
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
