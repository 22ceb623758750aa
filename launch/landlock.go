package launch

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// ScopeABI is the first Landlock ABI that scopes abstract unix sockets and
// signals (Linux 6.12).
const ScopeABI = 6

// LandlockABI is the running kernel's Landlock ABI version: 0 without
// Landlock (not built in, or not enabled at boot).
func LandlockABI() int {
	v, _, errno := unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, uintptr(unsafe.Pointer(nil)), 0, unix.LANDLOCK_CREATE_RULESET_VERSION)
	if errno != 0 {
		return 0
	}
	return int(v)
}
