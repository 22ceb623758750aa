package pid1

import (
	"encoding/binary"
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The sandbox's main seccomp filter (bundle.Seccomp) denies by default and
// allows ioctl as a whole: libseccomp cannot carve single requests out of
// an allowed syscall. So pid1 stacks a second filter, which the command
// inherits, that refuses the two terminal requests that act on a terminal
// beyond the caller's own use: TIOCSTI (push input, as if typed) and
// TIOCLINUX (console control). Filters stack; the strictest result wins.
//
// The ioctl request is compared on its low 32 bits, which is what the
// kernel uses: garbage in the upper half cannot slip past.

// seccomp_data layout: nr (u32) @0, arch (u32) @4, ip (u64) @8, args @16.
const (
	offNr    = 0
	offArch  = 4
	offArg1  = 16 + 8*1 // the low half on little-endian machines
	retAllow = unix.SECCOMP_RET_ALLOW
	retEPERM = unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)
)

// ioctls are the ioctl syscall numbers a process on this machine can call
// with, by audit architecture (x86-64 also takes i386 and x32 calls).
var ioctls = []struct{ arch, nr uint32 }{
	{unix.AUDIT_ARCH_X86_64, 16},
	{unix.AUDIT_ARCH_X86_64, 0x40000000 | 16},  // x32
	{unix.AUDIT_ARCH_X86_64, 0x40000000 | 514}, // x32 compat ioctl
	{unix.AUDIT_ARCH_I386, 54},
	{unix.AUDIT_ARCH_AARCH64, 29},
	{unix.AUDIT_ARCH_ARM, 54},
}

// ttyFilter is the program: for each (arch, nr), a block of four
//
//	ld arch; jeq ARCH ? next : skip; ld nr; jeq NR ? CHECK : next block
//
// then ALLOW, and CHECK: ld arg1; jeq TIOCSTI ? DENY; jeq TIOCLINUX ?
// DENY; ALLOW; DENY.
func ttyFilter() []unix.SockFilter {
	ld := func(off uint32) unix.SockFilter {
		return unix.SockFilter{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: off}
	}
	jeq := func(k uint32, jt, jf int) unix.SockFilter {
		return unix.SockFilter{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, K: k, Jt: uint8(jt), Jf: uint8(jf)}
	}
	ret := func(k uint32) unix.SockFilter { return unix.SockFilter{Code: unix.BPF_RET | unix.BPF_K, K: k} }

	check := 4*len(ioctls) + 1
	var prog []unix.SockFilter
	for i, c := range ioctls {
		at := 4 * i
		prog = append(prog, ld(offArch), jeq(c.arch, 0, 2), ld(offNr), jeq(c.nr, check-(at+3)-1, 0))
	}
	return append(prog,
		ret(retAllow),
		ld(offArg1),
		jeq(unix.TIOCSTI, 2, 0),
		jeq(unix.TIOCLINUX, 1, 0),
		ret(retAllow),
		ret(retEPERM),
	)
}

// loadFilter installs a seccomp program on every thread of this process,
// so that the command started next inherits it. no_new_privs is already
// set by the runtime.
func loadFilter(prog []unix.SockFilter) error {
	if len(prog) == 0 || len(prog) > 0xffff {
		return fmt.Errorf("a seccomp program of %d instructions", len(prog))
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	_, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, unix.SECCOMP_FILTER_FLAG_TSYNC, uintptr(unsafe.Pointer(&fprog)))
	if errno != 0 {
		return errno
	}
	return nil
}

// loadFilterFile installs a program compiled by libseccomp (raw struct
// sock_filter records, native byte order), as claudebox caches it.
func loadFilterFile(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if len(b)%8 != 0 {
		return fmt.Errorf("%s is not a seccomp program", path)
	}
	prog := make([]unix.SockFilter, len(b)/8)
	for i := range prog {
		r := b[8*i:]
		prog[i] = unix.SockFilter{
			Code: binary.NativeEndian.Uint16(r[0:]), Jt: r[2], Jf: r[3], K: binary.NativeEndian.Uint32(r[4:]),
		}
	}
	return loadFilter(prog)
}
