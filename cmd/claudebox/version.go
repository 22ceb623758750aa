package main

import (
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/claudebox/claudebox/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/spf13/cobra"
)

func newVersionCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print claudebox's version and what it was built with",
		Long: `Print claudebox's version, the commit it was built from, and the versions of
Go, runc's libcontainer, the OCI runtime spec, CNI and libseccomp inside it:
what a bug report needs. claudebox check prints the same header.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v := readVersion()
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(v)
			}
			v.print(cmd.OutOrStdout())
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print it as JSON")
	return cmd
}

// versionInfo is what this binary is and what it was built with.
type versionInfo struct {
	Version     string   `json:"version"`
	Commit      string   `json:"commit,omitempty"`
	Modified    bool     `json:"modified,omitempty"` // built from a tree with changes
	Go          string   `json:"go"`
	Platform    string   `json:"platform"`
	Runc        string   `json:"runc"`
	RuntimeSpec string   `json:"runtimeSpec"`
	CNI         string   `json:"cni"`
	CNIPlugins  string   `json:"cniPlugins"`
	Tags        []string `json:"buildTags"`
	Seccomp     bool     `json:"seccomp"`
	Libseccomp  string   `json:"libseccomp,omitempty"`
}

func readVersion() versionInfo {
	v := versionInfo{
		Version:     version,
		Commit:      commit,
		Go:          runtime.Version(),
		Platform:    runtime.GOOS + "/" + runtime.GOARCH,
		RuntimeSpec: specs.Version,
		Tags:        []string{},
		Libseccomp:  seccomp.Library(),
	}
	v.Seccomp = v.Libseccomp != ""
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return v
	}
	for _, d := range bi.Deps {
		if d.Replace != nil {
			d = d.Replace
		}
		switch d.Path {
		case "github.com/opencontainers/runc":
			v.Runc = d.Version
		case "github.com/containernetworking/cni":
			v.CNI = d.Version
		case "github.com/containernetworking/plugins":
			v.CNIPlugins = d.Version
		}
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "-tags":
			v.Tags = strings.Split(s.Value, ",")
		case "vcs.revision":
			if v.Commit == "" {
				v.Commit = s.Value
			}
		case "vcs.modified":
			v.Modified = s.Value == "true"
		}
	}
	return v
}

// versionLine is the one-line form, as --version prints it; cheap, since
// every launch builds the command tree that holds it.
func versionLine() string {
	return fmt.Sprintf("claudebox %s (%s, %s/%s)", version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

// print writes the header a bug report starts with.
func (v versionInfo) print(w io.Writer) {
	commit := v.Commit
	if commit == "" {
		commit = "unknown"
	}
	if v.Modified {
		commit += " (modified)"
	}
	sec := "no (built without -tags seccomp: launches refuse)"
	if v.Seccomp {
		sec = "libseccomp " + v.Libseccomp
	}
	fmt.Fprintf(w, "claudebox %s, commit %s\n", v.Version, commit)
	fmt.Fprintf(w, "%s %s; runc %s, runtime-spec %s, CNI %s, plugins %s; seccomp: %s; tags: %s\n",
		v.Go, v.Platform, v.Runc, v.RuntimeSpec, v.CNI, v.CNIPlugins, sec, strings.Join(v.Tags, ","))
}
