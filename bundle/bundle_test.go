package bundle

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/claudebox/claudebox/internal/registry"
	"github.com/claudebox/claudebox/launch"
	"github.com/opencontainers/runc/libcontainer/configs"
	"github.com/opencontainers/runc/libcontainer/specconv"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

var hostRoot = []launch.TopEntry{
	{Name: "bin", Link: "usr/bin"}, {Name: "etc"}, {Name: "home"}, {Name: "lib", Link: "usr/lib"},
	{Name: "opt"}, {Name: "root"}, {Name: "run"}, {Name: "usr"}, {Name: "var"},
}

// specs under test, one golden file each.
var cases = map[string]*launch.Spec{
	"user": {
		Project: "/home/ada/src/app", Workdir: "/home/ada/src/app/cmd",
		Command: []string{"/usr/local/bin/claude", "--resume"},
		Env:     []string{"CLAUDEBOX=1", "HOME=/home/ada", "PATH=/usr/bin:/bin", "TERM=xterm-256color"},
		Mounts:  []launch.Mount{{Path: "/home/ada/src/app", Mode: launch.ReadWrite, Why: "project"}},
		Hidden:  []string{"/run/user/1000", "/root"},
		UID:     1000, GID: 1000, Home: "/home/ada", TTY: true,
		Scratch: []string{"/tmp", "/var/tmp"}, HostRoot: hostRoot,
		Network: launch.Network{Tier: launch.TierFull, Source: "default"},
	},
	"inet": {
		Project: "/home/ada/app", Workdir: "/home/ada/app",
		Command: []string{"curl", "https://example.com"},
		Env:     []string{"CLAUDEBOX=1", "HOME=/home/ada"},
		Mounts:  []launch.Mount{{Path: "/home/ada/app", Mode: launch.ReadWrite, Why: "project"}},
		UID:     1000, GID: 1000, Home: "/home/ada",
		Scratch: []string{"/tmp"}, HostRoot: hostRoot,
		Network: launch.Network{Tier: launch.TierInet, Source: "--network"},
	},
	"instance": {
		Project: "/home/ada/src/app", Workdir: "/home/ada/src/app",
		Command: []string{"/usr/local/bin/claude"},
		Env:     []string{"CLAUDEBOX=1", "HOME=/home/ada"},
		Mounts:  []launch.Mount{{Path: "/home/ada/src/app", Mode: launch.ReadWrite, Why: "project"}},
		UID:     1000, GID: 1000, Home: "/home/ada",
		Instance: &launch.Instance{ID: "app-0123abcd", Dir: "/home/ada/.claudebox/instances/app-0123abcd", Root: "/home/ada/src/app"},
		Scratch:  []string{"/tmp"}, HostRoot: hostRoot,
		Network: launch.Network{Tier: launch.TierFull, Source: "default"},
	},
	"root": {
		Project: "/srv/proj", Workdir: "/srv/proj",
		Command: []string{"make", "test"},
		Env:     []string{"CLAUDEBOX=1", "HOME=/root", "PATH=/usr/bin:/bin"},
		Mounts:  []launch.Mount{{Path: "/srv/proj", Mode: launch.ReadWrite, Why: "project"}},
		UID:     0, GID: 0, Home: "/root",
		Scratch: []string{"/tmp"}, HostRoot: hostRoot,
		Network: launch.Network{Tier: launch.TierNone, Source: "CLAUDEBOX_NETWORK"},
	},
	"sockets": {
		Project: "/home/ada/app", Workdir: "/home/ada/app",
		Command: []string{"psql"},
		Env:     []string{"CLAUDEBOX=1", "HOME=/home/ada", "XDG_RUNTIME_DIR=/run/user/1000"},
		Mounts:  []launch.Mount{{Path: "/home/ada/app", Mode: launch.ReadWrite, Why: "project"}},
		UID:     1000, GID: 1000, Home: "/home/ada",
		Scratch: []string{"/tmp"}, HostRoot: hostRoot,
		Network: launch.Network{Tier: launch.TierNone, Source: "--network"},
		Run:     &launch.RunView{Keep: []string{"/run/systemd/resolve/stub-resolv.conf"}, RuntimeDir: "/run/user/1000"},
		Sockets: launch.Sockets{
			Mechanism: launch.SocketsHidden,
			Shown:     []launch.Socket{{Path: "/nix/var/nix/daemon-socket/socket", Why: "nix daemon"}, {Path: "/run/postgresql", Why: "--socket"}},
			Hidden:    []string{"/srv/daemon.sock", "/home/ada/app/host.sock"},
		},
	},
	"extra-mounts": {
		Project: "/home/ada/app", Workdir: "/home/ada/app",
		Command: []string{"bash"},
		Env:     []string{"CLAUDEBOX=1", "HOME=/home/ada"},
		Mounts: []launch.Mount{
			{Path: "/data", Mode: launch.ReadOnly, Why: "--ro"},
			{Path: "/home/ada/app", Mode: launch.ReadWrite, Why: "project"},
			{Path: "/home/ada/.local/bin", Mode: launch.ReadOnly, Why: "claude"},
			{Path: "/home/ada/app/.git/hooks", Mode: launch.ReadOnly, Why: "--ro"},
		},
		Hidden: []string{"/run/user/1000", "/home/ada/app/.env"},
		UID:    1000, GID: 1001, Home: "/home/ada",
		Scratch: []string{"/tmp", "/var/tmp"}, HostRoot: hostRoot,
		Network: launch.Network{Tier: launch.TierFull, Source: "default"},
	},
}

func mustBuild(t *testing.T, s *launch.Spec, l Layout) *specs.Spec {
	t.Helper()
	oci, err := Build(s, l)
	if err != nil {
		t.Fatal(err)
	}
	return oci
}

func layoutFor(s *launch.Spec) Layout {
	l := Layout{Rootfs: "rootfs", Launcher: "claudebox", Seccomp: SeccompName}
	if s.Network.Tier == launch.TierInet {
		l.ResolvConf = ResolvConfName
	}
	return l
}

func TestGolden(t *testing.T) {
	for name, s := range cases {
		t.Run(name, func(t *testing.T) {
			oci, err := Build(s, layoutFor(s))
			if err != nil {
				t.Fatal(err)
			}
			got, err := json.MarshalIndent(oci, "", "\t")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			golden := filepath.Join("testdata", name+".json")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./bundle -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("config.json differs from %s (run go test ./bundle -update and review the diff):\n%s", golden, got)
			}
		})
	}
}

// TestLibcontainerAccepts converts every case the way runc does.
func TestLibcontainerAccepts(t *testing.T) {
	for name, s := range cases {
		t.Run(name, func(t *testing.T) {
			oci := mustBuild(t, s, Layout{Rootfs: "/bundle/rootfs", Launcher: "/usr/bin/claudebox", Seccomp: "/cache/f.bpf"})
			cfg, err := specconv.CreateLibcontainerConfig(&specconv.CreateOpts{
				CgroupName: "cb-test", Spec: oci, RootlessEUID: s.UID != 0, RootlessCgroups: s.UID != 0,
			})
			if err != nil {
				t.Fatalf("libcontainer rejects the config: %v", err)
			}
			if cfg.Rootfs != "/bundle/rootfs" || !cfg.Readonlyfs {
				t.Errorf("rootfs %q readonly %v", cfg.Rootfs, cfg.Readonlyfs)
			}
			for _, ns := range []configs.NamespaceType{configs.NEWUSER, configs.NEWNS, configs.NEWPID, configs.NEWIPC, configs.NEWUTS} {
				if !cfg.Namespaces.Contains(ns) {
					t.Errorf("namespace %s missing", ns)
				}
			}
			if got, want := cfg.Namespaces.Contains(configs.NEWNET), s.Network.Tier != launch.TierFull; got != want {
				t.Errorf("tier %s: network namespace %v, want %v", s.Network.Tier, got, want)
			}
		})
	}
}

func TestPolicy(t *testing.T) {
	s := cases["extra-mounts"]
	oci := mustBuild(t, s, Layout{Rootfs: "rootfs", Launcher: "claudebox", Seccomp: SeccompName})

	if !oci.Process.NoNewPrivileges {
		t.Error("noNewPrivileges is off")
	}
	caps := oci.Process.Capabilities
	for _, set := range [][]string{caps.Bounding, caps.Effective, caps.Permitted} {
		if !slices.Equal(set, []string{"CAP_SETFCAP"}) {
			t.Errorf("pid1 of a non-root user keeps exactly CAP_SETFCAP, got %v", set)
		}
	}
	if len(caps.Ambient)+len(caps.Inheritable) != 0 {
		t.Errorf("capabilities would be inherited: %+v", caps)
	}
	if c := mustBuild(t, cases["root"], Layout{Seccomp: "f"}).Process.Capabilities; len(c.Bounding)+len(c.Permitted)+len(c.Effective) != 0 {
		t.Errorf("root launches need no capability at all, got %+v", c)
	}
	if got := oci.Linux.UIDMappings; len(got) != 1 || got[0] != (specs.LinuxIDMapping{ContainerID: 0, HostID: 1000, Size: 1}) {
		t.Errorf("uid mapping %+v", got)
	}
	if got := oci.Linux.GIDMappings[0].HostID; got != 1001 {
		t.Errorf("gid mapping host id %d", got)
	}
	want := []string{LauncherPath, registry.Pid1, "--uid=1000", "--gid=1001", "--seccomp=" + SeccompPath, "--tty-filter", "--", "bash"}
	if !slices.Equal(oci.Process.Args, want) {
		t.Errorf("args %v, want %v", oci.Process.Args, want)
	}
	for _, h := range s.Hidden {
		if !slices.Contains(oci.Linux.MaskedPaths, h) {
			t.Errorf("hidden path %s is not masked", h)
		}
	}

	index := map[string]int{}
	for i, m := range oci.Mounts {
		index[m.Destination] = i
		if m.Type == "bind" && !slices.Contains(m.Options, "nosuid") {
			t.Errorf("%s mounted without nosuid", m.Destination)
		}
	}
	// Mounts land on top of their parents.
	for _, pair := range [][2]string{
		{"/home", "/home/ada"}, {"/home/ada", "/home/ada/app"}, {"/home/ada/app", "/home/ada/app/.git/hooks"},
		{"/home/ada", "/home/ada/.local/bin"}, {"/var", "/var/tmp"},
	} {
		if index[pair[0]] >= index[pair[1]] {
			t.Errorf("%s is mounted before its parent %s", pair[1], pair[0])
		}
	}
	mode := func(dst string) []string { return oci.Mounts[index[dst]].Options }
	for _, ro := range []string{"/usr", "/etc", "/data", "/home/ada/app/.git/hooks", "/sys"} {
		if !slices.Contains(mode(ro), "rro") {
			t.Errorf("%s is not recursively read-only: %v", ro, mode(ro))
		}
	}
	if slices.Contains(mode("/home/ada/app"), "rro") {
		t.Error("the project is read-only")
	}
	if oci.Mounts[index["/home/ada"]].Type != "tmpfs" {
		t.Error("home is not a private tmpfs")
	}
	withInstance := mustBuild(t, cases["instance"], Layout{Seccomp: "f"})
	for _, m := range withInstance.Mounts {
		if m.Destination == "/home/ada" && (m.Source != "/home/ada/.claudebox/instances/app-0123abcd/home" || slices.Contains(m.Options, "rro")) {
			t.Errorf("home with an instance: %+v", m)
		}
	}
	for _, name := range []string{"/bin", "/lib"} {
		if _, ok := index[name]; ok {
			t.Errorf("%s is a symlink on the host and must not be mounted", name)
		}
	}
	if got := Symlinks(s); got["bin"] != "usr/bin" || got["lib"] != "usr/lib" || len(got) != 2 {
		t.Errorf("symlinks %v", got)
	}
}

func BenchmarkBuild(b *testing.B) {
	s := cases["instance"]
	for b.Loop() {
		if _, err := Build(s, Layout{Rootfs: "/r", Launcher: "/l", Seccomp: "/s"}); err != nil {
			b.Fatal(err)
		}
	}
}

// TestRootfsTreeBoundFirst: the host directory holding the rootfs is bound
// before anything is mounted into the rootfs, so its recursive copy does
// not carry those mounts (twenty of them, before).
func TestRootfsTreeBoundFirst(t *testing.T) {
	for rootfs, first := range map[string]string{
		"/run/user/1000/claudebox/cb-1/rootfs":       "/run",
		"/home/ada/.cache/claudebox/run/cb-1/rootfs": "/home",
		"rootfs": "/etc", // an exported bundle's: relative, the host's order
	} {
		oci := mustBuild(t, cases["user"], Layout{Rootfs: rootfs, Launcher: "/l", Seccomp: "/s"})
		if got := oci.Mounts[0].Destination; got != first {
			t.Errorf("rootfs %s: first mount %s, want %s", rootfs, got, first)
		}
		for i, m := range oci.Mounts {
			if m.Source != m.Destination || m.Type != "bind" {
				if i < len(hostRoot)-2 { // bin and lib are symlinks
					t.Errorf("rootfs %s: %s mounted before the host's directories", rootfs, m.Destination)
				}
				break
			}
		}
	}
}

// A launch on a kernel that scopes abstract sockets and signals has pid1
// set the scope up; on one that cannot, pid1 is not asked to (and would
// refuse to start if it were).
func TestScopeArg(t *testing.T) {
	s := *cases["extra-mounts"]
	for _, scoped := range []bool{false, true} {
		s.Scoped = scoped
		args := mustBuild(t, &s, Layout{Rootfs: "rootfs", Launcher: "claudebox", Seccomp: SeccompName}).Process.Args
		if got := slices.Contains(args[:slices.Index(args, "--")], "--scope"); got != scoped {
			t.Errorf("Scoped=%v: pid1 args %q", scoped, args)
		}
	}
}

// With Landlock's resolve-unix, pid1 is asked to deny every host socket
// but the shown ones; hidden one by one, it is not.
func TestResolveUnixArgs(t *testing.T) {
	s := *cases["sockets"]
	s.Scoped = true
	for _, mech := range []string{launch.SocketsHidden, launch.SocketsLandlock} {
		s.Sockets.Mechanism = mech
		args := mustBuild(t, &s, Layout{Rootfs: "rootfs", Launcher: "claudebox", Seccomp: SeccompName}).Process.Args
		pid1 := args[:slices.Index(args, "--")]
		want := mech == launch.SocketsLandlock
		if slices.Contains(pid1, "--resolve-unix") != want ||
			slices.Contains(pid1, "--unix-allow=/run/postgresql") != want ||
			slices.Contains(pid1, "--unix-allow=/nix/var/nix/daemon-socket/socket") != want {
			t.Errorf("%s: pid1 args %q", mech, pid1)
		}
	}
}
