package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/claudebox/claudebox/audit"
	"github.com/claudebox/claudebox/internal/printable"
	"github.com/claudebox/claudebox/launch"
	"github.com/claudebox/claudebox/profile"
)

// loadProfile loads the profile --profile or CLAUDEBOX_PROFILE names (the
// flag wins); nil for none.
func loadProfile(flag, home string) (*launch.Profile, error) {
	name := flag
	if name == "" {
		name = os.Getenv("CLAUDEBOX_PROFILE")
	}
	if name == "" {
		return nil, nil
	}
	return profile.Load(profile.Dir(filepath.Join(home, stateDirName)), name, home)
}

func profileDir() (string, string, error) {
	home, err := os.UserHomeDir()
	if err != nil {
		return "", "", err
	}
	return profile.Dir(filepath.Join(home, stateDirName)), home, nil
}

// listProfiles prints every profile with its description; a broken one
// with its error, not hidden.
func listProfiles(out io.Writer, asJSON bool) error {
	dir, home, err := profileDir()
	if err != nil {
		return err
	}
	entries := profile.List(dir, home)
	if asJSON {
		if entries == nil {
			entries = []profile.Entry{}
		}
		for i := range entries {
			entries[i].Profile = maskedProfile(entries[i].Profile)
		}
		return encodeJSON(out, entries)
	}
	if len(entries) == 0 {
		fmt.Fprintf(out, "no profiles in %s\n", printable.String(dir))
		return nil
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PROFILE\tDESCRIPTION")
	for _, e := range entries {
		desc := e.Description
		if e.Error != "" {
			desc = "BROKEN: " + e.Error
		}
		fmt.Fprintf(tw, "%s\t%s\n", printable.String(e.Name), printable.String(desc))
	}
	return tw.Flush()
}

// showProfile prints a profile as resolved: paths expanded, extends
// followed, secret-looking env values masked.
func showProfile(out io.Writer, name string, asJSON bool) error {
	dir, home, err := profileDir()
	if err != nil {
		return err
	}
	p, err := profile.Load(dir, name, home)
	if err != nil {
		return err
	}
	p = maskedProfile(p)
	if asJSON {
		return encodeJSON(out, p)
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "profile\t%s\t%s\n", printable.String(p.Name), printable.String(filepath.Join(dir, name+".json")))
	if p.Description != "" {
		fmt.Fprintf(tw, "description\t%s\n", printable.String(p.Description))
	}
	if len(p.Extends) > 0 {
		fmt.Fprintf(tw, "extends\t%s\n", printable.String(strings.Join(p.Extends, " -> ")))
	}
	if p.Network != "" {
		fmt.Fprintf(tw, "network\t%s\n", p.Network)
	}
	for _, a := range p.AllowNet {
		fmt.Fprintf(tw, "allow-net\t%s\n", printable.String(a))
	}
	for _, e := range p.Env {
		if strings.Contains(e, "=") {
			fmt.Fprintf(tw, "env\t%s\n", printable.String(e))
		} else {
			fmt.Fprintf(tw, "env\t%s\t(the host's value)\n", printable.String(e))
		}
	}
	for _, m := range p.Mounts {
		where := m.Path
		if m.Target != "" {
			where += " -> " + m.Target
		}
		fmt.Fprintf(tw, "mount\t%s\t%s\n", m.Mode, printable.String(where))
	}
	for _, h := range p.Hide {
		fmt.Fprintf(tw, "mount\thide\t%s\n", printable.String(h))
	}
	return tw.Flush()
}

// maskedProfile masks secret-looking values of NAME=VALUE entries.
func maskedProfile(p *launch.Profile) *launch.Profile {
	if p == nil {
		return nil
	}
	out := *p
	out.Env = nil
	for _, e := range p.Env {
		if name, value, ok := strings.Cut(e, "="); ok {
			shown, _ := audit.Mask(name, value)
			e = name + "=" + shown
		}
		out.Env = append(out.Env, e)
	}
	return &out
}

func encodeJSON(out io.Writer, v any) error {
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
