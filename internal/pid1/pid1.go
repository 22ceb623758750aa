// Package pid1 is the first process of every sandbox: `claudebox pid1
// --uid=U --gid=G [--drop-groups] [--scope] [--seccomp=FILE] [--tty-filter]
// [--parent-fd=N] -- CMD ARGS...`, run from the read-only copy of the
// claudebox binary mounted into the sandbox. It is written in C (pid1.c)
// and runs from a constructor, before the Go runtime would start: every
// launch waits for it, and a Go runtime's start cost 3-5 ms of that.
//
// The runtime starts it as root of a user namespace that maps only the
// invoking user (container uid 0 = host uid U), with no capabilities but
// CAP_SETFCAP (and CAP_SETGID with --drop-groups, which drops the user's
// supplementary groups: rootless runc cannot). With --scope it confines
// itself and all it starts to a Landlock domain that scopes abstract unix
// sockets and signals: the host's abstract sockets (in the full tier's
// shared network namespace) and processes outside cannot be reached. It
// loads the sandbox's seccomp filter (compiled once by the launcher) and
// stacks a filter refusing TIOCSTI and TIOCLINUX, then
// starts CMD in a nested user namespace mapping U to its parent's 0, so
// the command runs as U inside (id, whoami and file owners look as on the
// host) and every file it creates is owned by U on the host. The exec as a
// non-zero uid drops the nested namespace's capabilities. This is what
// bubblewrap's --uid does; libcontainer alone cannot, as it needs
// container uid 0 mapped.
//
// As pid 1 it forwards termination signals to the command's process
// group, reaps orphans, dies with its launcher (the parent-death signal,
// and end of file on the launcher's lifeline pipe), and exits with the
// command's status (128+N when it died of signal N).
package pid1

// #cgo CFLAGS: -Wall -Wextra -Werror -I${SRCDIR}/../registry
// #include "pid1.h"
import "C"

import "github.com/claudebox/claudebox/internal/registry"

// Exit statuses of pid1's own failures: claudebox's (package registry).
const (
	ExitCannotRun = registry.ExitCannotRun
	ExitNotFound  = registry.ExitNotFound
	ExitUsage     = registry.ExitFailure
)
