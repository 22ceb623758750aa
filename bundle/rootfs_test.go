package bundle

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/claudebox/claudebox/launch"
	"github.com/opencontainers/runtime-spec/specs-go"
)

// TestSkeletonHoldsEveryMountPoint: for every golden case, each mount
// lands either inside an earlier mount or on a mount point of the right
// kind in the skeleton, so the runtime writes nothing into the rootfs.
func TestSkeletonHoldsEveryMountPoint(t *testing.T) {
	tmp := t.TempDir()
	launcher := filepath.Join(tmp, "claudebox")
	os.WriteFile(launcher, []byte("binary"), 0o755)
	for name, s := range cases {
		t.Run(name, func(t *testing.T) {
			oci := mustBuild(t, s, Layout{Rootfs: "/run/user/1000/claudebox/rootfs-", Launcher: launcher, Seccomp: launcher})
			root := filepath.Join(t.TempDir(), "rootfs")
			if err := NewSkeleton(s, oci, "").Make(root); err != nil {
				t.Fatal(err)
			}
			for i, m := range oci.Mounts {
				if slices.ContainsFunc(oci.Mounts[:i], func(p specs.Mount) bool { return launch.Within(m.Destination, p.Destination) }) {
					continue
				}
				fi, err := os.Lstat(filepath.Join(root, m.Destination))
				if err != nil {
					t.Errorf("%s: no mount point: %v", m.Destination, err)
					continue
				}
				if wantFile := m.Source == launcher; fi.Mode().IsRegular() != wantFile || (!wantFile && !fi.IsDir()) {
					t.Errorf("%s: mount point is %v, want a file: %v", m.Destination, fi.Mode(), wantFile)
				}
			}
			for link, target := range Symlinks(s) {
				if got, err := os.Readlink(filepath.Join(root, link)); err != nil || got != target {
					t.Errorf("%s -> %q (%v), want -> %s", link, got, err, target)
				}
			}
			// Nothing below another mount: the user's home is in /home's.
			if _, err := os.Lstat(filepath.Join(root, s.Home)); s.Home != "/" && filepath.Dir(s.Home) != "/" && err == nil {
				t.Errorf("%s is in the skeleton, though /home is mounted", s.Home)
			}
		})
	}
}

func TestSkeletonKey(t *testing.T) {
	s := cases["user"]
	l := Layout{Rootfs: "/run/r", Launcher: "/usr/bin/claudebox", Seccomp: "/s"}
	key := func(s *launch.Spec) string { return NewSkeleton(s, mustBuild(t, s, l), "").Key() }
	if k1, k2 := key(s), key(s); k1 != k2 { // the symlinks come from a map
		t.Error("the same shape has two keys")
	}
	other := *s
	other.Mounts = append(slices.Clone(s.Mounts), launch.Mount{Path: "/data", Mode: launch.ReadOnly, Why: "test"})
	if key(&other) == key(s) {
		t.Error("a mount point more did not change the key")
	}
	inside := *s
	inside.Mounts = append(slices.Clone(s.Mounts), launch.Mount{Path: "/home/ada/data", Mode: launch.ReadOnly, Why: "test"})
	if key(&inside) != key(s) {
		t.Error("a mount inside /home changed the key")
	}
}

// TestSSHAgentSocket: with --ssh-agent the proxy's socket in the launch
// directory is bound at launch.SSHAgentSocket, on a file mount point of
// the skeleton, whether or not the socket exists yet (a dry run).
func TestSSHAgentSocket(t *testing.T) {
	s := *cases["instance"]
	s.SSHAgent = &launch.SSHAgent{Upstream: "/run/user/1000/agent"}
	l := LayoutFor(&s, Places{Rootfs: "/rt/rootfs-", Launcher: "/usr/bin/claudebox", Seccomp: "/rt/seccomp", Dir: "/rt/cb-1"})
	oci := mustBuild(t, &s, l)
	i := slices.IndexFunc(oci.Mounts, func(m specs.Mount) bool { return m.Destination == launch.SSHAgentSocket })
	if i < 0 || oci.Mounts[i].Source != "/rt/cb-1/"+SSHAgentName {
		t.Fatalf("no ssh-agent mount from the launch directory: %+v", oci.Mounts)
	}
	root := filepath.Join(t.TempDir(), "rootfs")
	if err := NewSkeleton(&s, oci, "").Make(root); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(filepath.Join(root, launch.SSHAgentSocket)); err != nil || !fi.Mode().IsRegular() {
		t.Fatalf("mount point %v %v, want a file", fi, err)
	}
	if plain := mustBuild(t, cases["instance"], LayoutFor(cases["instance"], Places{Dir: "/rt/cb-1", Seccomp: "x"})); slices.ContainsFunc(plain.Mounts, func(m specs.Mount) bool { return m.Destination == launch.SSHAgentSocket }) {
		t.Fatal("an ssh-agent mount without --ssh-agent")
	}
}

// TestOwnSocketsGranted: where Landlock denies host sockets
// (resolve-unix), pid1 grants the launcher's own sockets, which are bound
// from outside the sandbox's domain.
func TestOwnSocketsGranted(t *testing.T) {
	s := *cases["instance"]
	s.Sockets = launch.Sockets{Mechanism: launch.SocketsLandlock}
	s.Scoped = true
	s.SSHAgent = &launch.SSHAgent{}
	s.GitCredentials = &launch.GitCredentials{}
	oci := mustBuild(t, &s, LayoutFor(&s, Places{Dir: "/rt/cb-1", Seccomp: "x"}))
	for _, want := range []string{"--unix-allow=" + launch.SSHAgentSocket, "--unix-allow=" + launch.GitCredentialSocket} {
		if !slices.Contains(oci.Process.Args, want) {
			t.Errorf("pid1's arguments lack %s: %q", want, oci.Process.Args)
		}
	}
	s.SSHAgent, s.GitCredentials = nil, nil
	oci = mustBuild(t, &s, LayoutFor(&s, Places{Dir: "/rt/cb-1", Seccomp: "x"}))
	if slices.ContainsFunc(oci.Process.Args, func(a string) bool { return strings.HasPrefix(a, "--unix-allow=/.claudebox/") }) {
		t.Errorf("own sockets granted without them: %q", oci.Process.Args)
	}
}
