// Command floor is the least a rootless libcontainer launch can be, for
// make bench: `floor CMD...` runs CMD in-process through libcontainer,
// as claudebox does, with as little as a command can run with: a user
// namespace mapping only the caller, new mount, pid, ipc and uts
// namespaces, /proc, a /dev tmpfs, /usr read-only, and nothing else: no
// seccomp, no network namespace, no pid 1 of its own, no state, no
// terminal. Its time is libcontainer's own (re-executing a sealed copy of
// the binary, nsexec, the Go init, mounts, pivot_root, exec); whatever a
// launcher built on libcontainer adds comes on top of it.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/claudebox/claudebox/internal/registry"
	_ "github.com/opencontainers/cgroups/devices" // device rules, as runc registers them
	"github.com/opencontainers/runc/libcontainer"
	_ "github.com/opencontainers/runc/libcontainer/nsenter"
	"github.com/opencontainers/runc/libcontainer/specconv"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func init() {
	if len(os.Args) > 1 && os.Args[1] == registry.Init {
		libcontainer.Init()
	}
}

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "floor:", err)
		os.Exit(registry.ExitFailure)
	}
}

func run(args []string) error {
	dir, err := os.MkdirTemp("", "floor-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	rootfs := filepath.Join(dir, "rootfs")
	for _, d := range []string{"proc", "dev", "usr"} {
		if err := os.MkdirAll(filepath.Join(rootfs, d), 0o755); err != nil {
			return err
		}
	}
	for _, l := range []string{"bin", "lib", "lib64", "sbin"} {
		if target, err := os.Readlink("/" + l); err == nil {
			if err := os.Symlink(target, filepath.Join(rootfs, l)); err != nil {
				return err
			}
		}
	}
	uid, gid := uint32(os.Getuid()), uint32(os.Getgid())
	spec := &specs.Spec{
		Version: specs.Version,
		Root:    &specs.Root{Path: rootfs, Readonly: true},
		Process: &specs.Process{Args: args, Env: []string{"PATH=/usr/bin:/bin"}, Cwd: "/", NoNewPrivileges: true},
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc"},
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "mode=755"}},
			{Destination: "/usr", Type: "bind", Source: "/usr", Options: []string{"rbind", "ro"}},
		},
		Linux: &specs.Linux{
			Namespaces: []specs.LinuxNamespace{
				{Type: specs.UserNamespace}, {Type: specs.MountNamespace}, {Type: specs.PIDNamespace},
				{Type: specs.IPCNamespace}, {Type: specs.UTSNamespace},
			},
			UIDMappings: []specs.LinuxIDMapping{{ContainerID: 0, HostID: uid, Size: 1}},
			GIDMappings: []specs.LinuxIDMapping{{ContainerID: 0, HostID: gid, Size: 1}},
		},
	}
	rootless := os.Geteuid() != 0
	cfg, err := specconv.CreateLibcontainerConfig(&specconv.CreateOpts{
		CgroupName: "floor", Spec: spec, RootlessEUID: rootless, RootlessCgroups: rootless,
	})
	if err != nil {
		return err
	}
	ctr, err := libcontainer.Create(filepath.Join(dir, "state"), "floor", cfg)
	if err != nil {
		return err
	}
	defer ctr.Destroy()
	proc := &libcontainer.Process{
		Args: args, Env: spec.Process.Env, Cwd: "/", Init: true,
		Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr,
	}
	if err := ctr.Run(proc); err != nil {
		return err
	}
	ps, err := proc.Wait()
	if err != nil {
		return err
	}
	if !ps.Success() {
		return fmt.Errorf("%v: %s", args, ps)
	}
	return nil
}
