// Package bundle turns a launch.Spec into an OCI runtime configuration
// (config.json) and writes self-contained bundles that plain `runc run` can
// start. Build is pure: spec in, *specs.Spec out.
//
// The sandbox root is a skeleton (NewSkeleton): the host's top-level
// symlinks (bin -> usr/bin, ...) and empty mount points; every top-level
// host directory is bind-mounted into it recursively read-only. The process runs as root of a
// user namespace that maps only the invoking user, with no capabilities, and
// starts as claudebox's own pid 1 (see internal/pid1), which drops into a
// nested user namespace so the command runs with the user's own uid and gid.
package bundle

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/claudebox/claudebox/internal/registry"
	"github.com/claudebox/claudebox/launch"
	"github.com/claudebox/claudebox/netconf"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

const (
	// Hostname is the sandbox's host name.
	Hostname = "claudebox"
	// LauncherPath is where the claudebox binary appears inside the
	// sandbox, read-only, to serve as pid 1.
	LauncherPath = launch.LauncherInside
)

// Layout says where the bundle's host-side pieces are.
type Layout struct {
	// Rootfs is the root directory: absolute, or relative to the bundle.
	Rootfs string
	// Launcher is the claudebox binary on the host: absolute, or relative to
	// the bundle.
	Launcher string
	// ResolvConf is the resolv.conf shown in the inet tier (see
	// WriteResolvConf): absolute, or relative to the bundle.
	ResolvConf string
	// Seccomp is the compiled seccomp filter (seccomp.Program)
	// that pid1 loads: absolute, or relative to the bundle. Required
	// unless the launch has --seccomp=off.
	Seccomp string
	// ParentFD, when not 0, is the fd on which pid1 finds the read end of
	// the launcher's lifeline pipe (launches only; see internal/pid1).
	ParentFD int
	// NetHook is the absolute path of the bundle's claudebox binary: the
	// configuration then carries the createRuntime hook that attaches the
	// inet tier under plain runc (exports of inet only; a launch attaches
	// it itself). "" for no hook.
	NetHook string
	// SSHAgent is the socket of the launch's ssh-agent proxy, shown at
	// launch.SSHAgentSocket (launches with --ssh-agent only).
	SSHAgent string
	// GitCredential is the socket of the launch's git credential server,
	// shown at launch.GitCredentialSocket (launches with
	// --git-credential only).
	GitCredential string
}

// Places say where a bundle's files are, for LayoutFor: Dir holds the
// files written per bundle or launch (the inet tier's resolv.conf); the
// others are as in Layout. NetHook is the hook's binary, for exports.
type Places struct {
	Rootfs, Launcher, Seccomp, Dir, NetHook string
	ParentFD                                int
}

// LayoutFor is the one answer to which of its files a bundle of s uses,
// and where: a launch, its dry run and an export all take their Layout
// from here, each with its own Places. The compiled filter unless
// --seccomp=off; for inet, the generated resolv.conf and (exports) the
// hook.
func LayoutFor(s *launch.Spec, p Places) Layout {
	l := Layout{Rootfs: p.Rootfs, Launcher: p.Launcher, ParentFD: p.ParentFD}
	if !s.NoSeccomp {
		l.Seccomp = p.Seccomp
	}
	if s.Network.Tier.Attached() {
		l.ResolvConf = filepath.Join(p.Dir, ResolvConfName)
		l.NetHook = p.NetHook
	}
	if s.SSHAgent != nil {
		l.SSHAgent = filepath.Join(p.Dir, SSHAgentName)
	}
	if s.GitCredentials != nil {
		l.GitCredential = filepath.Join(p.Dir, GitCredentialName)
	}
	return l
}

// Annotations an exported bundle's hook reads its network from.
const (
	AnnotationNetwork  = "org.claudebox.network"
	AnnotationAllowNet = "org.claudebox.allow-net"
)

// SeccompName is the compiled filter in a bundle directory, and
// SeccompPath where pid1 finds it inside.
const (
	SeccompName = "seccomp.bpf"
	SeccompPath = "/.claudebox/seccomp.bpf"
)

// ResolvConfName is the inet tier's resolv.conf in a bundle directory.
const ResolvConfName = "resolv.conf"

// SSHAgentName is the ssh-agent proxy's socket in a launch directory,
// GitCredentialName the git credential server's.
const (
	SSHAgentName      = "ssh-agent.sock"
	GitCredentialName = "git-credential.sock"
)

// WriteResolvConf writes the inet tier's resolv.conf: the resolvers the
// deny rules let through. Rootless that is the uplink's DNS forwarder
// (the host's own resolver is often a LAN address); nil servers mean it.
func WriteResolvConf(path string, servers []string) error {
	if len(servers) == 0 {
		servers = []string{netconf.UplinkDNS}
	}
	var b strings.Builder
	for _, s := range servers {
		b.WriteString("nameserver " + s + "\n")
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

// Masked and read-only /proc and /sys paths, as runc and the container
// engines default them.
var (
	defaultMasked = []string{
		"/proc/acpi", "/proc/asound", "/proc/interrupts", "/proc/kcore", "/proc/keys",
		"/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
		"/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap",
	}
	defaultReadonly = []string{
		"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
	}
)

// OCIVersion is the ociVersion a bundle declares: the lowest runtime-spec
// release that covers what bundles use (an exported inet bundle's
// createRuntime hook came in 1.0.2), not the newest the code is built with,
// so that older runtimes take them: Debian 12's crun 1.8.1 refuses "1.3.0".
// TestOCIVersion holds it to the schemas.
const OCIVersion = "1.0.2"

// Build renders the OCI configuration of a launch.
func Build(s *launch.Spec, l Layout) (*specs.Spec, error) {
	caps := pid1Capabilities(s)
	args := []string{LauncherPath, registry.Pid1, "--uid=" + strconv.Itoa(s.UID), "--gid=" + strconv.Itoa(s.GID)}
	if l.ParentFD != 0 {
		args = append(args, "--parent-fd="+strconv.Itoa(l.ParentFD))
	}
	if s.Scoped {
		args = append(args, "--scope")
	}
	if s.Sockets.Mechanism == launch.SocketsLandlock {
		args = append(args, "--resolve-unix")
		for _, sock := range s.Sockets.Shown {
			args = append(args, "--unix-allow="+sock.Path)
		}
		// The launcher's own sockets, bound outside the domain too.
		if s.SSHAgent != nil {
			args = append(args, "--unix-allow="+launch.SSHAgentSocket)
		}
		if s.GitCredentials != nil {
			args = append(args, "--unix-allow="+launch.GitCredentialSocket)
		}
	}
	if s.SubGID != 0 {
		args = append(args, "--drop-groups")
	}
	if !s.NoSeccomp {
		if l.Seccomp == "" {
			return nil, fmt.Errorf("no compiled seccomp filter for the bundle")
		}
		// pid1 loads the filter (compiled once, see Seccomp) and stacks
		// the terminal filter before it starts the command.
		args = append(args, "--seccomp="+SeccompPath, "--tty-filter")
	}
	args = append(append(args, "--"), s.Command...)
	var allow []string
	for _, a := range s.Network.Allow {
		allow = append(allow, a.String())
	}
	var hooks *specs.Hooks
	if l.NetHook != "" {
		hooks = &specs.Hooks{CreateRuntime: []specs.Hook{{Path: l.NetHook, Args: []string{"claudebox", registry.NetHook}}}}
	}
	return &specs.Spec{
		Version:  OCIVersion,
		Hostname: Hostname,
		Annotations: map[string]string{
			AnnotationNetwork:  string(s.Network.Tier),
			AnnotationAllowNet: strings.Join(allow, ","),
		},
		Hooks: hooks,
		Root:  &specs.Root{Path: l.Rootfs, Readonly: true},
		Process: &specs.Process{
			Terminal:        s.TTY,
			User:            specs.User{UID: 0, GID: 0},
			Args:            args,
			Env:             slices.Clone(s.Env),
			Cwd:             s.Workdir,
			Capabilities:    caps,
			NoNewPrivileges: true,
		},
		Mounts: mounts(s, l),
		Linux: &specs.Linux{
			Namespaces:    namespaces(s),
			UIDMappings:   []specs.LinuxIDMapping{{ContainerID: 0, HostID: uint32(s.UID), Size: 1}},
			GIDMappings:   gidMappings(s),
			MaskedPaths:   slices.Concat(defaultMasked, s.Hidden, s.Sockets.Hidden),
			ReadonlyPaths: slices.Clone(defaultReadonly),
		},
	}, nil
}

func namespaces(s *launch.Spec) []specs.LinuxNamespace {
	ns := []specs.LinuxNamespace{
		{Type: specs.UserNamespace},
		{Type: specs.MountNamespace},
		{Type: specs.PIDNamespace},
		{Type: specs.IPCNamespace},
		{Type: specs.UTSNamespace},
	}
	if s.Network.Tier != launch.TierFull {
		ns = append(ns, specs.LinuxNamespace{Type: specs.NetworkNamespace})
	}
	return ns
}

// pid1Capabilities are pid1's capabilities, in the sandbox's user namespace
// only. For a non-root user it keeps CAP_SETFCAP: since Linux 5.12 mapping
// a nested namespace onto its parent's uid 0 requires it (verify_root_map),
// and that is how the command gets the user's uid; and, when it drops the
// user's supplementary groups (Spec.SubGID), CAP_SETGID for setgroups. The
// command itself never holds a capability: it is exec'd as a non-zero uid
// in the nested namespace, which clears them all. Root launches need no
// nested namespace, and runc sets root's groups, so pid1 gets nothing.
func pid1Capabilities(s *launch.Spec) *specs.LinuxCapabilities {
	var caps []string
	if s.UID != 0 {
		caps = []string{"CAP_SETFCAP"}
		if s.SubGID != 0 {
			caps = []string{"CAP_SETFCAP", "CAP_SETGID"}
		}
	}
	return &specs.LinuxCapabilities{
		Bounding: caps, Effective: caps, Permitted: caps,
		Inheritable: []string{}, Ambient: []string{},
	}
}

// Pid1Caps are pid1's capabilities in a launch (see pid1Capabilities), for
// compiling its seccomp filter.
func Pid1Caps(s *launch.Spec) []string { return pid1Capabilities(s).Bounding }

// gidMappings map the user's gid as the sandbox's root group, and with
// Spec.SubGID one subordinate gid more: a map the user could not write
// alone, so newgidmap writes it, and setgroups is allowed in the sandbox.
func gidMappings(s *launch.Spec) []specs.LinuxIDMapping {
	m := []specs.LinuxIDMapping{{ContainerID: 0, HostID: uint32(s.GID), Size: 1}}
	if s.SubGID != 0 {
		m = append(m, specs.LinuxIDMapping{ContainerID: 1, HostID: uint32(s.SubGID), Size: 1})
	}
	return m
}

// Symlinks returns the host's top-level symlinks to recreate in the rootfs,
// name -> target.
func Symlinks(s *launch.Spec) map[string]string {
	out := map[string]string{}
	for _, e := range s.HostRoot {
		if e.Link != "" {
			out[e.Name] = e.Link
		}
	}
	return out
}

// sysfs shows the network devices of the network namespace of the
// process that mounts it; only the namespace's owner may. With a network
// namespace of its own (none, allowlist, inet) the sandbox gets a sysfs of
// its own: its lo (and tap0 under slirp4netns), not the host's interfaces
// and their addresses, and none of the host's cgroup mounts. full, in the host's namespace, binds the
// host's, read-only.
func sysfs(t launch.Tier) specs.Mount {
	if t == launch.TierFull {
		return specs.Mount{Destination: "/sys", Type: "bind", Source: "/sys", Options: []string{"rbind", "rro", "nosuid", "noexec", "nodev"}}
	}
	return specs.Mount{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"ro", "nosuid", "noexec", "nodev"}}
}

var (
	roBind = []string{"rbind", "rro", "nosuid", "nodev"}
	rwBind = []string{"rbind", "nosuid", "nodev"}
)

func mounts(s *launch.Spec, l Layout) []specs.Mount {
	// The host's top-level directories come first, and the one holding
	// the rootfs (the runtime directory's skeleton, under the user's home
	// or /run) first of all: a recursive bind copies every mount below its source,
	// and the rootfs is one, with whatever was mounted into it so far.
	// Bound before anything else, its copy is a single mount, not the
	// twenty of /proc, /dev, /sys and its cgroups and the other binds.
	var ms []specs.Mount
	for _, e := range s.HostRoot {
		if e.Link != "" {
			continue
		}
		p := "/" + e.Name
		m := specs.Mount{Destination: p, Type: "bind", Source: p, Options: roBind}
		if p == "/run" && s.Run != nil {
			m = specs.Mount{Destination: p, Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "nodev", "noexec", "mode=755", "size=65536k"}}
		}
		if filepath.IsAbs(l.Rootfs) && launch.Within(l.Rootfs, p) {
			ms = append([]specs.Mount{m}, ms...)
		} else {
			ms = append(ms, m)
		}
	}
	ms = append(ms, []specs.Mount{
		{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
		{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"}},
		{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
		{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
	}...)
	ms = append(ms, sysfs(s.Network.Tier))

	// Everything mounted over the read-only host, parents first.
	tmpfs := func(dst, mode string) specs.Mount {
		return specs.Mount{Destination: dst, Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "nodev", "mode=" + mode}}
	}
	var over []specs.Mount
	for _, d := range s.Scratch {
		over = append(over, tmpfs(d, "1777"))
	}
	switch {
	case s.Instance != nil:
		over = append(over, specs.Mount{Destination: s.Home, Type: "bind", Source: s.Instance.HomeDir(), Options: rwBind})
	case s.Home != "/":
		over = append(over, tmpfs(s.Home, "700"))
	}
	if s.Run != nil {
		over = append(over, tmpfs(s.Run.RuntimeDir, "700"))
		for _, p := range s.Run.Keep {
			over = append(over, specs.Mount{Destination: p, Type: "bind", Source: p, Options: roBind})
		}
	}
	// A socket shown on purpose is bound where the sandbox has a place of
	// its own (/run, the home, /tmp); elsewhere it is simply not hidden.
	for _, sock := range s.Sockets.Shown {
		if s.Bound(sock.Path) {
			over = append(over, specs.Mount{Destination: sock.Path, Type: "bind", Source: sock.Path, Options: roBind})
		}
	}
	for _, m := range s.Mounts {
		opts := rwBind
		if m.Mode == launch.ReadOnly {
			opts = roBind
		}
		over = append(over, specs.Mount{Destination: m.Dest(), Type: "bind", Source: m.Path, Options: opts})
	}
	slices.SortStableFunc(over, func(a, b specs.Mount) int { return launch.Depth(a.Destination) - launch.Depth(b.Destination) })
	ms = append(ms, over...)

	if l.Seccomp != "" && !s.NoSeccomp {
		ms = append(ms, specs.Mount{Destination: SeccompPath, Type: "bind", Source: l.Seccomp,
			Options: []string{"bind", "ro", "nosuid", "nodev", "noexec"}})
	}
	if l.ResolvConf != "" {
		ms = append(ms, specs.Mount{Destination: "/etc/resolv.conf", Type: "bind", Source: l.ResolvConf,
			Options: []string{"bind", "ro", "nosuid", "nodev", "noexec"}})
	}
	for _, sock := range []struct{ src, dst string }{{l.SSHAgent, launch.SSHAgentSocket}, {l.GitCredential, launch.GitCredentialSocket}} {
		if sock.src != "" {
			ms = append(ms, specs.Mount{Destination: sock.dst, Type: "bind", Source: sock.src,
				Options: []string{"bind", "ro", "nosuid", "nodev", "noexec"}})
		}
	}
	return append(ms, specs.Mount{
		Destination: LauncherPath, Type: "bind", Source: l.Launcher,
		Options: []string{"bind", "ro", "nosuid", "nodev"},
	})
}
