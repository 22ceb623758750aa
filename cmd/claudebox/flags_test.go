package main

import (
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/claudebox/claudebox/launch"
	"github.com/spf13/pflag"
)

// TestLaunchFlags: the flags every launching command shares, parsed as
// the commands parse them, become the launch options they say.
func TestLaunchFlags(t *testing.T) {
	for _, c := range []struct {
		name  string
		args  []string
		check func(launch.Options, launchFlags) bool
		err   string
	}{
		{"nothing", nil, func(o launch.Options, f launchFlags) bool {
			return o.Project == "" && o.Network == "" && !o.NoSeccomp && o.StateDir == "/home/u/.claudebox" && !f.yes && !f.quiet
		}, ""},
		{"repeatable", []string{"--env", "A", "--env", "B=1", "--ro", "x", "--ro", "y", "--rw", "z", "--hide", "h", "--allow-net", "10.0.0.1:5432", "--allow-net", "10.0.0.2"},
			func(o launch.Options, _ launchFlags) bool {
				return slices.Equal(o.Env, []string{"A", "B=1"}) && slices.Equal(o.RO, []string{"x", "y"}) && slices.Equal(o.RW, []string{"z"}) &&
					slices.Equal(o.Hide, []string{"h"}) && slices.Equal(o.AllowNet, []string{"10.0.0.1:5432", "10.0.0.2"})
			}, ""},
		{"values", []string{"--project", "p", "--network", "inet", "--profile", "db"}, func(o launch.Options, f launchFlags) bool {
			return o.Project == "p" && o.Network == "inet" && f.profile == "db"
		}, ""},
		{"short flags", []string{"-y", "-q"}, func(_ launch.Options, f launchFlags) bool { return f.yes && f.quiet }, ""},
		{"dry run as JSON", []string{"--dry-run", "--json"}, func(_ launch.Options, f launchFlags) bool { return f.dryRun && f.asJSON }, ""},
		{"seccomp off", []string{"--seccomp=off"}, func(o launch.Options, _ launchFlags) bool { return o.NoSeccomp }, ""},
		{"seccomp bogus", []string{"--seccomp=maybe"}, nil, `--seccomp "maybe"`},
		{"unknown flag", []string{"--bogus"}, nil, "unknown flag: --bogus"},
		{"missing value", []string{"--network"}, nil, "flag needs an argument"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var f launchFlags
			fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
			fs.SetOutput(io.Discard)
			f.register(fs)
			err := fs.Parse(c.args)
			var o launch.Options
			if err == nil {
				o, err = f.options([]string{"true"}, nil, "/home/u")
			}
			switch {
			case c.err != "":
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Errorf("error %v, want %q", err, c.err)
				}
			case err != nil:
				t.Fatal(err)
			case !c.check(o, f):
				t.Errorf("options %+v from flags %+v", o, f)
			}
		})
	}
}

// TestExportArgs: export-bundle DIR [-- CMD...].
func TestExportArgs(t *testing.T) {
	for _, c := range []struct {
		args  []string
		dash  int
		dir   string
		argv  []string
		usage string
	}{
		{[]string{"/tmp/box"}, -1, "/tmp/box", []string{}, ""},
		{[]string{"/tmp/box", "bash", "-l"}, 1, "/tmp/box", []string{"bash", "-l"}, ""},
		{nil, -1, "", nil, "needs a directory"},
		{[]string{"bash"}, 0, "", nil, "needs a directory"},
		{[]string{"/tmp/box", "bash"}, -1, "", nil, "put the command after --"},
	} {
		dir, argv, usage := exportArgs(c.args, c.dash)
		if dir != c.dir || !slices.Equal(argv, c.argv) || !strings.Contains(usage, c.usage) || (c.usage == "") != (usage == "") {
			t.Errorf("exportArgs(%q, %d) = %q %q %q", c.args, c.dash, dir, argv, usage)
		}
	}
}

// TestCommandLineErrors: what the command line gets wrong is refused
// before anything is looked at or launched, with a hint.
func TestCommandLineErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--resume"}, "unknown flag: --resume"},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"run"}, "run needs a command"},
		{[]string{"export-bundle"}, "export-bundle needs a directory"},
		{[]string{"export-bundle", "/tmp/x", "bash"}, "put the command after --"},
		{[]string{"run", "--network"}, "flag needs an argument"},
	} {
		root := newRootCommand()
		root.SetArgs(c.args)
		root.SetOut(io.Discard)
		root.SetErr(io.Discard)
		err := root.Execute()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want %q", c.args, err, c.want)
			continue
		}
		if launch.Hint(err) == "" {
			t.Errorf("%q: no hint for %v", c.args, err)
		}
	}
}

// TestVersionFlag: --version and -v print the one-line version, and
// nothing is launched.
func TestVersionFlag(t *testing.T) {
	for _, arg := range []string{"--version", "-v"} {
		root := newRootCommand()
		var out strings.Builder
		root.SetArgs([]string{arg})
		root.SetOut(&out)
		root.SetErr(io.Discard)
		if err := root.Execute(); err != nil {
			t.Fatalf("%s: %v", arg, err)
		}
		if got := out.String(); got != versionLine()+"\n" {
			t.Errorf("%s printed %q, want %q", arg, got, versionLine()+"\n")
		}
	}
}
