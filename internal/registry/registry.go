// Package registry lists, once, the claudebox binary's hidden subcommands,
// the environment its helpers are started with, and its own exit statuses.
// The C that runs before Go includes the same list as registry.h; a test
// holds the two equal.
package registry

// Exit statuses of claudebox's own failures. Any other status is the
// sandboxed command's own (128+N when it died of signal N).
const (
	// ExitFailure: claudebox failed (bad input, sandbox set-up).
	ExitFailure = 125
	// ExitCannotRun: the command exists but cannot be run.
	ExitCannotRun = 126
	// ExitNotFound: the command does not exist in the sandbox.
	ExitNotFound = 127
)

// Subcommands the binary is started as, besides the user's.
const (
	// Init is libcontainer's re-exec of the binary in the new namespaces.
	Init = "init"
	// Pid1 is the sandbox's pid 1 (internal/pid1, C).
	Pid1 = "pid1"
	// NSHold holds an inet or allowlist launch's user and network
	// namespaces, and makes the relay's sockets in them
	// (network/holder_join.c).
	NSHold = "_ns-hold"
	// UsernsExec execs slirp4netns in the sandbox's user namespace
	// (network/holder_join.c).
	UsernsExec = "_userns-exec"
	// CNI runs libcni in the sandbox's user namespace.
	CNI = "_cni"
	// Probe is --check's network probe, run inside a sandbox.
	Probe = "_probe"
	// NetHook is an exported bundle's OCI hook; NetKeeper takes its network
	// down when the container ends.
	NetHook   = "_net-hook"
	NetKeeper = "_net-keeper"
	// GitCredential is git's credential helper inside a sandbox launched
	// with --git-credential (package gitcred).
	GitCredential = "_git-credential"
	// Publish makes --publish's sockets in the sandbox's network
	// namespace, from its user namespace (joined before Go starts).
	Publish = "_publish"
)

// Environment the helpers are started with.
const (
	// EnvUserns names the user namespace a helper joins before Go starts.
	EnvUserns = "_CLAUDEBOX_USERNS"
	// EnvResolvConf is the resolv.conf the uplink's DNS forwarder reads.
	EnvResolvConf = "_CLAUDEBOX_RESOLV_CONF"
	// EnvRelay asks the namespace holder for the relay's sockets, made in
	// the sandbox's network namespace and passed back over its stdout.
	EnvRelay = "_CLAUDEBOX_RELAY"
)
