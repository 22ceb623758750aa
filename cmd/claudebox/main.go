// Command claudebox runs Claude Code, or any command, in a rootless sandbox
// built as an OCI bundle and run in-process by libcontainer.
package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/claudebox/claudebox/gitcred"
	"github.com/claudebox/claudebox/internal/egress"
	_ "github.com/claudebox/claudebox/internal/pid1" // the sandbox's pid 1: a C constructor
	"github.com/claudebox/claudebox/internal/printable"
	"github.com/claudebox/claudebox/internal/registry"
	"github.com/claudebox/claudebox/launch"
	"github.com/claudebox/claudebox/netconf"
	"github.com/claudebox/claudebox/network"
	"github.com/claudebox/claudebox/preflight"
	"github.com/opencontainers/runc/libcontainer"
	_ "github.com/opencontainers/runc/libcontainer/nsenter" // the C half of container start-up
	"github.com/sirupsen/logrus"
)

// version and commit are set by the Makefile (-ldflags -X).
var version, commit = "dev", ""

func init() {
	// libcontainer re-executes this binary as `claudebox init` inside the
	// new namespaces; the nsenter import above has already run by now.
	if len(os.Args) > 1 && os.Args[1] == registry.Init {
		libcontainer.Init()
	}
}

func main() {
	// A multi-call binary: the sandbox's pid 1, the CNI helper and the
	// egress CNI plugin are this binary too. pid1, _ns-hold and (with
	// _CLAUDEBOX_USERNS) _userns-exec never get here: C constructors run
	// them before the Go runtime starts (internal/pid1, network/holder_join.c).
	if filepath.Base(os.Args[0]) == netconf.EgressType {
		egress.Main()
		return
	}
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case registry.CNI:
			os.Exit(network.CNIHelperMain(os.Args[2:]))
		case registry.UsernsExec: // reached only without registry.EnvUserns
			fmt.Fprintln(os.Stderr, "claudebox: "+registry.UsernsExec+" needs "+registry.EnvUserns)
			os.Exit(registry.ExitFailure)
		case registry.Probe:
			os.Exit(preflight.ProbeMain(os.Args[2:]))
		case registry.NetHook:
			os.Exit(network.HookMain())
		case registry.NetKeeper:
			os.Exit(network.KeeperMain(os.Args[2:]))
		case registry.GitCredential:
			os.Exit(gitcred.HelperMain(os.Args[2:]))
		case registry.Publish:
			os.Exit(network.PublishHelperMain())
		}
	}
	logrus.SetLevel(logrus.ErrorLevel)
	if os.Getenv("CLAUDEBOX_DEBUG") != "" {
		logrus.SetLevel(logrus.DebugLevel)
	}
	os.Exit(execute(os.Args[1:]))
}

// exitStatus carries the sandboxed command's status out of a command.
type exitStatus int

func (e exitStatus) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

func execute(args []string) int {
	root := newRootCommand()
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return 0
	}
	if st, ok := errors.AsType[exitStatus](err); ok {
		return int(st)
	}
	if cf, ok := errors.AsType[*checkFailed](err); ok {
		fmt.Fprintf(os.Stderr, "claudebox: %s\n", printable.Lines(cf.Error()))
		return 1
	}
	fmt.Fprintf(os.Stderr, "claudebox: %s\n", printable.Lines(err.Error()))
	if hint := launch.Hint(err); hint != "" {
		fmt.Fprintf(os.Stderr, "  hint: %s\n", printable.Lines(hint))
	}
	return registry.ExitFailure
}
