//go:build gendocs

// The man pages and shell completions, generated from the command tree
// (make docs): `go run -tags gendocs ./cmd/claudebox gen-docs DIR` writes
// DIR/man1/claudebox*.1 and DIR/completions/{claudebox.bash,_claudebox,
// claudebox.fish}. Not in the shipped binary: every launch copies that
// binary (rootless libcontainer re-executes a sealed copy of itself), so
// what only a build needs stays out of it.

package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

func init() {
	if len(os.Args) != 3 || os.Args[1] != "gen-docs" {
		return
	}
	if err := genDocs(os.Args[2]); err != nil {
		fmt.Fprintln(os.Stderr, "gen-docs:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

func genDocs(dir string) error {
	root := newRootCommand()
	root.DisableAutoGenTag = true
	man := filepath.Join(dir, "man1")
	comp := filepath.Join(dir, "completions")
	for _, d := range []string{man, comp} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	// SOURCE_DATE_EPOCH (the Makefile passes the commit's time) dates the pages.
	header := &doc.GenManHeader{Section: "1", Source: "claudebox " + version, Manual: "claudebox manual"}
	if err := doc.GenManTree(root, header, man); err != nil {
		return err
	}
	for name, gen := range map[string]func(*cobra.Command, string) error{
		"claudebox.bash": func(c *cobra.Command, f string) error { return c.GenBashCompletionFileV2(f, true) },
		"_claudebox":     (*cobra.Command).GenZshCompletionFile,
		"claudebox.fish": func(c *cobra.Command, f string) error { return c.GenFishCompletionFile(f, true) },
	} {
		if err := gen(root, filepath.Join(comp, name)); err != nil {
			return err
		}
	}
	return nil
}
