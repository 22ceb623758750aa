package main

import (
	"fmt"
	"io"

	"github.com/claudebox/claudebox/internal/printable"
	"github.com/claudebox/claudebox/sandbox"
	"github.com/claudebox/claudebox/state"
	"github.com/spf13/cobra"
)

type gcFlags struct {
	dryRun, force bool
}

func newGCCommand() *cobra.Command {
	var f gcFlags
	cmd := &cobra.Command{
		Use:   "gc",
		Short: "Remove the instances of deleted projects",
		Long: `Remove the per-project instances whose project root no longer exists, and
the runtime leftovers of launches whose launcher died. An instance with a
live sandbox is never removed. An instance whose meta.json is corrupt is
reported and kept unless --force; one written by a newer claudebox is
always kept.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runGC(cmd.OutOrStdout(), f) },
	}
	cmd.Flags().BoolVar(&f.dryRun, "dry-run", false, "list what would be removed, remove nothing")
	cmd.Flags().BoolVar(&f.force, "force", false, "also remove instances whose meta.json is corrupt")
	return cmd
}

func runGC(out io.Writer, f gcFlags) error {
	dir, err := stateDir()
	if err != nil {
		return err
	}
	res, err := state.GC(dir, state.GCOptions{DryRun: f.dryRun, Force: f.force})
	if err != nil {
		return fmt.Errorf("gc: %w", err)
	}
	verb := "removed"
	if f.dryRun {
		verb = "would remove"
	}
	for _, in := range res.Removed {
		project := "(corrupt meta.json)"
		if in.Meta != nil {
			project = in.Meta.Project
		}
		fmt.Fprintf(out, "%s %s  %s  %s\n", verb, printable.String(in.ID), printable.String(project), humanBytes(in.Size))
	}
	for _, in := range res.Kept {
		hint := ""
		if in.Meta == nil {
			hint = "; --force removes it"
		}
		fmt.Fprintf(out, "kept %s: %s%s\n", printable.String(in.ID), printable.String(in.MetaErr), hint)
	}
	swept := 0
	if !f.dryRun {
		if swept, err = sandbox.SweepStale(); err != nil {
			return fmt.Errorf("gc: %w", err)
		}
	}
	fmt.Fprintf(out, "gc: %s %d instance(s), freed %s; cleared %d stale launch(es)\n", verb, len(res.Removed), humanBytes(res.Freed), swept)
	return nil
}
