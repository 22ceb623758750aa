package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/claudebox/claudebox/launch"
	"github.com/spf13/pflag"
	"golang.org/x/term"
)

// launchFlags are the flags shared by every command that builds a sandbox.
type launchFlags struct {
	project      string
	env          []string
	ro, rw, hide []string
	profile      string
	network      string
	allowNet     []string
	allowHost    []string
	sockets      []string
	yes, quiet   bool
	dryRun       bool
	seccomp      string
	asJSON       bool
	sshAgent     []string
	sshAgentSign []string
	gitCred      []string
	sshAgentKey  []string

	// --publish
	publish []string

	// --mcp: the MCP servers carried in.
	mcp []string
}

func (f *launchFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.project, "project", "", "project root `DIR`, mounted read-write (default: the git top level of the current directory, else the current directory)")
	fs.StringArrayVar(&f.env, "env", nil, "pass the host's `NAME` (skipped when unset), or set NAME=VALUE (repeatable)")
	fs.StringArrayVar(&f.ro, "ro", nil, "also show `PATH` read-only at the same path (repeatable)")
	fs.StringArrayVar(&f.rw, "rw", nil, "also show `PATH` read-write at the same path (repeatable)")
	fs.StringArrayVar(&f.hide, "hide", nil, "replace `PATH` with an empty read-only directory or file (repeatable)")
	fs.StringVar(&f.profile, "profile", "", "apply profile `NAME` (~/.claudebox/profiles/NAME.json); default $CLAUDEBOX_PROFILE")
	fs.StringVar(&f.network, "network", "", "network `TIER`: none (loopback only), allowlist (only --allow-host names and Claude's own), inet (internet, no LAN or host) or full (the host's); default $CLAUDEBOX_NETWORK, else full")
	fs.StringArrayVar(&f.allowNet, "allow-net", nil, "with --network inet, let `ADDR[:PORT]` or CIDR[:PORT] through (repeatable), e.g. 192.168.1.10:5432")
	fs.StringArrayVar(&f.allowHost, "allow-host", nil, "with --network allowlist, let `PATTERN[:PORT][/nameless]` through: a host name or *.DOMAIN, ports 443 and 80 unless given; /nameless also lets through connections that name no host, e.g. github.com:22/nameless for ssh (repeatable)")
	fs.StringArrayVar(&f.sockets, "socket", nil, "show the host's unix socket `PATH`, or a directory of sockets, on purpose (repeatable), e.g. /run/postgresql; every other host socket is out of reach")
	fs.BoolVarP(&f.yes, "yes", "y", false, "launch without asking for confirmation")
	fs.BoolVarP(&f.quiet, "quiet", "q", false, "print nothing of claudebox's own unless something fails or was repaired (no audit, no question)")
	fs.StringVar(&f.seccomp, "seccomp", "on", "the seccomp filter: `on|off` (off is risky: for debugging a syscall the filter refuses)")
	fs.BoolVar(&f.dryRun, "dry-run", false, "print the launch plan and run nothing, create nothing")
	fs.StringArrayVar(&f.mcp, "mcp", nil, "carry the MCP server `NAME` of your ~/.claude.json (user scope) into the sandbox, with its secrets (repeatable); none comes along unless named")
	fs.StringArrayVar(&f.sshAgent, "ssh-agent", nil, "give the sandbox an ssh-agent that signs logins to `HOST[:PORT]` only, with the keys in your own agent, checked against your known_hosts (repeatable), e.g. --ssh-agent github.com")
	fs.StringArrayVar(&f.sshAgentSign, "ssh-agent-sign", nil, "let the sandbox's ssh-agent also make SSHSIG signatures in `NAMESPACE` (only git: commits signed with gpg.format=ssh)")
	fs.StringArrayVar(&f.sshAgentKey, "ssh-agent-key", nil, "with --ssh-agent, list and use only the key of `FINGERPRINT` (SHA256:..., as ssh-add -l shows it; repeatable); default all your agent holds")
	fs.StringArrayVar(&f.gitCred, "git-credential", nil, "answer git's credential requests for https://`HOST[:PORT]` with your own git credential helpers' login, which then enters the sandbox (repeatable)")
	fs.StringArrayVarP(&f.publish, "publish", "p", nil, "publish a sandbox port on the host: `[HOST_ADDR:]HOST_PORT[:SANDBOX_PORT]`, e.g. -p 5173 for http://localhost:5173 (repeatable; the host's loopback unless HOST_ADDR names an address); full needs none")
	fs.BoolVar(&f.asJSON, "json", false, "print JSON: with --dry-run the OCI config.json (what a launch makes as placeholders); also for --check, --list-profiles, --show-profile")
}

// resolve builds the launch Spec for argv (empty: run claude with
// claudeArgs).
func (f *launchFlags) resolve(argv, claudeArgs []string) (*launch.Spec, error) {
	host, err := launch.CurrentHost()
	if err != nil {
		return nil, err
	}
	p, err := loadProfile(f.profile, host.Home)
	if err != nil {
		return nil, err
	}
	o, err := f.options(argv, claudeArgs, host.Home)
	if err != nil {
		return nil, err
	}
	o.Profile = p
	o.TTY = term.IsTerminal(int(os.Stdin.Fd())) && term.IsTerminal(int(os.Stdout.Fd()))
	return launch.Resolve(o, host)
}

// options are the launch options the flags ask for, for argv (empty: run
// claude with claudeArgs), with the state directory under home.
func (f *launchFlags) options(argv, claudeArgs []string, home string) (launch.Options, error) {
	if f.seccomp != "on" && f.seccomp != "off" {
		return launch.Options{}, &launch.HintError{Err: fmt.Errorf("--seccomp %q", f.seccomp), Hint: "use --seccomp=on (the default) or --seccomp=off"}
	}
	return launch.Options{
		NoSeccomp:  f.seccomp == "off",
		Project:    f.project,
		Command:    argv,
		ClaudeArgs: claudeArgs,
		Env:        f.env,
		RO:         f.ro,
		RW:         f.rw,
		Hide:       f.hide,
		Network:    f.network,
		AllowNet:   f.allowNet,
		AllowHost:  f.allowHost,
		Sockets:    f.sockets,
		Publish:    f.publish,
		StateDir:   filepath.Join(home, stateDirName),
		MCP:        f.mcp,

		SSHAgent:     f.sshAgent,
		SSHAgentSign: f.sshAgentSign,
		SSHAgentKey:  f.sshAgentKey,

		GitCredential: f.gitCred,
	}, nil
}

const stateDirName = ".claudebox"

// stateDir is claudebox's state directory, ~/.claudebox.
func stateDir() (string, error) {
	home, err := os.UserHomeDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(home, stateDirName), nil
}

// launcherPath is this binary, which serves as the sandbox's pid 1.
func launcherPath() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", err
	}
	return filepath.EvalSymlinks(exe)
}

const pathsHelp = `
Paths given to --project, --ro, --rw and --hide may be relative: they are
taken from the current directory. Symlinks are resolved; a mount appears at
the real path. A path that does not exist is an error.`

const exitHelp = `
Before launching, claudebox prints the plan on stderr (secrets masked) and,
on a terminal, asks for confirmation (--yes or CLAUDEBOX_YES=1 skip it).

Exit status: the command's own (128+N if it died of signal N); 1 when the
launch was declined; 125 when claudebox itself fails; 126 when the command
cannot be run; 127 when it is not found in the sandbox.`
