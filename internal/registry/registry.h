// The claudebox binary's hidden subcommands, the environment its helpers
// are started with, and its own exit statuses: one list, included by the C
// that runs before Go (internal/pid1, the constructors in cmd/claudebox)
// and mirrored by package registry for Go (registry_test.go holds the two
// equal).
#ifndef CLAUDEBOX_REGISTRY_H
#define CLAUDEBOX_REGISTRY_H

// Exit statuses of claudebox's own failures, as shells and podman use
// them. Any other status is the sandboxed command's own.
#define CLAUDEBOX_EXIT_FAILURE 125    // claudebox failed: bad input, set-up
#define CLAUDEBOX_EXIT_CANNOT_RUN 126 // the command exists but cannot be run
#define CLAUDEBOX_EXIT_NOT_FOUND 127  // the command does not exist

// Subcommands the binary is started as, besides the user's.
#define CLAUDEBOX_VERB_INIT "init"                // libcontainer's init (Go)
#define CLAUDEBOX_VERB_PID1 "pid1"                // the sandbox's pid 1 (C)
#define CLAUDEBOX_VERB_NS_HOLD "_ns-hold"         // holds inet's namespaces (C)
#define CLAUDEBOX_VERB_USERNS_EXEC "_userns-exec" // the uplink, in the sandbox's userns (C)
#define CLAUDEBOX_VERB_CNI "_cni"                 // libcni, in the sandbox's userns (Go)
#define CLAUDEBOX_VERB_PROBE "_probe"             // --check's network probe, inside (Go)
#define CLAUDEBOX_VERB_NET_HOOK "_net-hook"       // an exported bundle's OCI hook (Go)
#define CLAUDEBOX_VERB_NET_KEEPER "_net-keeper"   // takes that network down (Go)
#define CLAUDEBOX_VERB_GIT_CREDENTIAL "_git-credential" // git's credential helper, inside (Go)
#define CLAUDEBOX_VERB_PUBLISH "_publish"         // --publish's sockets, in the sandbox's netns (Go)

// Environment of the helpers: the user namespace to join, the resolv.conf
// the uplink's DNS forwarder reads, and (the namespace holder) that the
// relay's sockets are to be made in the sandbox's network namespace.
#define CLAUDEBOX_ENV_USERNS "_CLAUDEBOX_USERNS"
#define CLAUDEBOX_ENV_RESOLV_CONF "_CLAUDEBOX_RESOLV_CONF"
#define CLAUDEBOX_ENV_RELAY "_CLAUDEBOX_RELAY"

#endif
