package bundle

import (
	"slices"

	"github.com/moby/profiles/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// denied are syscalls no sandbox gets, whatever the base profile allows:
// kernel keyrings (shared with the host user), eBPF and perf (kernel
// attack surface), userfaultfd (exploit primitive), kexec.
var denied = []string{
	"keyctl", "add_key", "request_key",
	"bpf", "perf_event_open", "userfaultfd",
	"kexec_load", "kexec_file_load",
}

// nestedNamespaces are allowed although the base profile keeps them for
// CAP_SYS_ADMIN: pid1 needs a nested user namespace to give the command
// the user's uid, and tools inside (bwrap, rootless podman, unshare) need
// namespaces of their own. The kernel only lets them mount or pivot in a
// namespace whose user namespace they own, so they reach nothing of the
// sandbox's own mounts: its masks and read-only binds are locked.
var nestedNamespaces = []string{
	"unshare", "setns", "mount", "umount", "umount2", "pivot_root", "mount_setattr",
}

// Seccomp is the sandbox's filter: the default profile that runc-based
// engines use (github.com/moby/profiles/seccomp), for a process with caps,
// tightened as above.
func Seccomp(caps []string) (*specs.LinuxSeccomp, error) {
	base, err := seccomp.GetDefaultProfile(&specs.Spec{Process: &specs.Process{
		Capabilities: &specs.LinuxCapabilities{Bounding: caps},
	}})
	if err != nil {
		return nil, err
	}
	var out []specs.LinuxSyscall
	for _, sc := range base.Syscalls {
		if sc.Action == specs.ActAllow {
			sc.Names = slices.DeleteFunc(slices.Clone(sc.Names), func(n string) bool { return slices.Contains(denied, n) })
			if len(sc.Names) == 0 {
				continue
			}
		}
		out = append(out, sc)
	}
	out = append(out, specs.LinuxSyscall{Names: nestedNamespaces, Action: specs.ActAllow})
	// clone with namespace flags, for the same reason (clone3 stays
	// ENOSYS, so libc falls back to clone).
	out = append(out, specs.LinuxSyscall{Names: []string{"clone"}, Action: specs.ActAllow})
	// TIOCSTI and TIOCLINUX are refused by a second filter that pid1
	// stacks (internal/pid1): ioctl itself must stay allowed here.
	base.Syscalls = out
	return base, nil
}
