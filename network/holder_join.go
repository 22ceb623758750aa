package network

// Joining a user namespace (setns) is only allowed to a single-threaded
// process, which a Go program never is once its runtime has started. So the
// CNI helper (Attachment) joins the sandbox's user namespace in
// holder_join.c, in a constructor that runs before the Go runtime, when
// _CLAUDEBOX_USERNS names the namespace. It then holds every capability in
// that namespace, which owns the sandbox's network namespace, while staying
// in the host's network and mount namespaces.
//
// The same constructor serves `claudebox _ns-hold` (Holder): it brings the
// new network namespace's lo up, makes the relay's sockets there when
// asked, passes them to the launcher and holds the namespaces until its
// stdin closes.
//
// `claudebox _userns-exec PROGRAM ARGS...` (the slirp4netns uplink) never
// reaches Go: once the namespace is joined the constructor execs PROGRAM
// itself, which spares starting a Go runtime (3 ms) on the path that every
// such launch waits for. With _CLAUDEBOX_RESOLV_CONF it first gives PROGRAM
// a mount namespace of its own where that file is /etc/resolv.conf.
//
// The constructor is linked into every binary that imports this package,
// and does nothing unless one of those verbs or _CLAUDEBOX_USERNS asks.

// #cgo CFLAGS: -Wall -Wextra -Werror -I${SRCDIR}/../internal/registry
import "C"
