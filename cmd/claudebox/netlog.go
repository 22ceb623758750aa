package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/claudebox/claudebox/internal/printable"
	"github.com/claudebox/claudebox/internal/safefs"
	"github.com/claudebox/claudebox/launch"
	"github.com/claudebox/claudebox/state"
	"github.com/spf13/cobra"
)

// maxNetLog caps the log read: a session's decisions, one line each.
const maxNetLog = 64 << 20

func newNetLogCommand() *cobra.Command {
	var (
		asJSON  bool
		project string
	)
	cmd := &cobra.Command{
		Use:   "net-log",
		Short: "Show the allowlist tier's decisions in this project's last session",
		Long: `Show what the allowlist tier decided in the last session of this project
(the current directory's, or --project DIR): each DNS query answered or
refused, each connection allowed (with the bytes moved) or refused, and
why. The log lives in the project's instance, which the sandbox never
sees. It is bounded (8 MiB, with a share for each of allowed connections,
DNS answers and refusals): a "dropped" line counts what was not written,
so a flood of refusals never hides the allowed connections. Names are shown
with control bytes escaped (\xNN).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			entries, found, err := readSessionLog(project, state.LastNetLog, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			if !found {
				fmt.Fprintln(cmd.OutOrStdout(), "no allowlist session in this project yet")
				return nil
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return printJSONEntries(out, entries)
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "TIME\tKIND\tNAME\tADDRESS\tPORT\tVERDICT\tBYTES\tWHY")
			for _, e := range entries {
				t, _ := time.Parse(time.RFC3339Nano, str(e["time"]))
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.Local().Format(time.TimeOnly), str(e["kind"]), str(e["name"]),
					str(e["addr"]), str(e["port"]), str(e["verdict"]), str(e["bytes"]), str(e["reason"]))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().StringVar(&project, "project", "", "the project `DIR` (default: the current directory's)")
	return cmd
}

// readSessionLog reads the newest session log of the project's instance
// (last names it), one JSON object a line; found is false when there is
// none. warn hears of a log too large to read whole.
func readSessionLog(project string, last func(*launch.Instance) string, warn io.Writer) (entries []map[string]any, found bool, err error) {
	dir, err := stateDir()
	if err != nil {
		return nil, false, err
	}
	host, err := launch.CurrentHost()
	if err != nil {
		return nil, false, err
	}
	spec, err := launch.Resolve(launch.Options{Project: project, Command: []string{"true"}, StateDir: dir}, host)
	if err != nil {
		return nil, false, err
	}
	path := last(spec.Instance)
	if path == "" {
		return nil, false, nil
	}
	entries, err = readLogFile(path, maxNetLog, warn)
	return entries, true, err
}

// readLogFile reads a session log, one JSON object a line; of a log
// larger than max (written before logs were capped) it reads what the
// first max bytes hold, and says so on warn.
func readLogFile(path string, max int64, warn io.Writer) (entries []map[string]any, err error) {
	b, whole, size, err := safefs.ReadTrustedHead(path, max)
	if err != nil {
		return nil, err
	}
	if !whole {
		fmt.Fprintf(warn, "claudebox: %s is %s: showing what its first %s hold\n", path, safefs.Size(size), safefs.Size(max))
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 64<<10), len(b)+1)
	for sc.Scan() {
		var e map[string]any
		if json.Unmarshal(sc.Bytes(), &e) == nil {
			entries = append(entries, e)
		}
	}
	return entries, sc.Err()
}

// printJSONEntries prints a log's entries as one JSON array.
func printJSONEntries(out io.Writer, entries []map[string]any) error {
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	if entries == nil {
		entries = []map[string]any{}
	}
	return enc.Encode(entries)
}

// str shows a JSON value of the log ("" for none), escaped: a name comes
// from the sandbox.
func str(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case float64:
		return fmt.Sprint(int64(v))
	}
	return printable.String(fmt.Sprint(v))
}
