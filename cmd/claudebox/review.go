package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/claudebox/claudebox/launch"
	"github.com/claudebox/claudebox/review"
	"github.com/claudebox/claudebox/state"
	"github.com/spf13/cobra"
)

func newReviewCommand() *cobra.Command {
	var asJSON, incompleteOK bool
	cmd := &cobra.Command{
		Use:   "review",
		Short: "Show what the review at the end of a session held",
		Long: `Show the changes that sessions made and the review at their end held,
because a tool on your host would run them: git config and hooks (in any
git directory of the project, nested ones included), Claude Code's
project settings and .mcp.json, editor run configurations. Each is back
as it was at launch (or away, if it was new); the session's version is
beside it as NAME.claudebox-held. Shown: the file, the tool that loads
it, and exactly what it would run. claudebox accept PATH lets one take
effect.

A review that a killed launcher left is run first, when no session of
that project is live. A review that could not look at everything (a
directory over its cap, one it cannot read) stays pending, and the next
launch refuses: move away what is named and run claudebox review again,
or, having looked yourself, end it with --incomplete-ok.`,
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
			var all []review.Hold
			for _, in := range list {
				if in.ReviewPending && !in.Live {
					res, _, err := state.RunPendingReview(in.Dir, incompleteOK)
					review.Report(os.Stderr, res)
					if err != nil {
						return fmt.Errorf("the pending review of %s: %w", in.Dir, err)
					}
				}
				hs, err := review.Open(in.Dir).Holds()
				if err != nil {
					return err
				}
				all = append(all, hs...)
				if inc := review.Open(in.Dir).Incomplete(); len(inc) > 0 && !asJSON {
					fmt.Fprintf(os.Stderr, "claudebox: the last review of instance %s could not look at everything:\n", in.ID)
					for _, s := range inc {
						fmt.Fprintf(os.Stderr, "  %s\n", s)
					}
				}
			}
			out := cmd.OutOrStdout()
			if asJSON {
				if all == nil {
					all = []review.Hold{}
				}
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(all)
			}
			if len(all) == 0 {
				fmt.Fprintln(out, "nothing held")
				return nil
			}
			review.Show(out, all)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().BoolVar(&incompleteOK, "incomplete-ok", false, "end a pending review that could not look at everything (you looked at what it names)")
	return cmd
}

func newAcceptCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "accept PATH",
		Short: "Let a change the review held take effect",
		Long: `Put the session's version of a held file (see claudebox review) in place:
from then on, the tool on your host that loads it runs what it names.
The version put in place is the one the review kept in the instance
directory, which no sandbox can change, not the copy beside the file.
accept refuses when the file changed since it was held.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir, err := stateDir()
			if err != nil {
				return err
			}
			path, err := filepath.Abs(args[0])
			if err != nil {
				return err
			}
			list, err := state.ListInstances(dir)
			if err != nil {
				return err
			}
			candidates := []string{path}
			if d, err := filepath.EvalSymlinks(filepath.Dir(path)); err == nil {
				candidates = append(candidates, filepath.Join(d, filepath.Base(path)))
			}
			for _, in := range list {
				for _, p := range candidates {
					h, err := state.Accept(in.Dir, p)
					if errors.Is(err, review.ErrNotHeld) {
						continue
					}
					if err != nil {
						return fmt.Errorf("accept %s: %w", p, err)
					}
					fmt.Fprintf(cmd.OutOrStdout(), "claudebox: %s is in place: %s\n", p, h.Why)
					for _, r := range h.Runs {
						fmt.Fprintf(cmd.OutOrStdout(), "  %s\n", r)
					}
					return nil
				}
			}
			return &launch.HintError{Err: fmt.Errorf("accept: nothing is held at %s", path), Hint: "claudebox review lists what is held, each with its accept command"}
		},
	}
}
