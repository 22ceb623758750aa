package sandbox

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/claudebox/claudebox/bundle"
	"github.com/claudebox/claudebox/launch"
	"github.com/opencontainers/runtime-spec/specs-go"
)

// TestSkeletonShared: launches of one shape, made at once, share one
// skeleton, made whole, and leave no temporary directory behind.
func TestSkeletonShared(t *testing.T) {
	rt := t.TempDir()
	s := &launch.Spec{HostRoot: []launch.TopEntry{{Name: "usr"}, {Name: "bin", Link: "usr/bin"}}}
	oci := &specs.Spec{Mounts: []specs.Mount{
		{Destination: "/usr", Type: "bind", Source: "/usr"},
		{Destination: "/proc", Type: "proc", Source: "proc"},
		{Destination: "/.claudebox/claudebox", Type: "bind", Source: "/etc/hostname"},
	}}
	k := bundle.NewSkeleton(s, oci, "")
	dirs := make([]string, 8)
	var wg sync.WaitGroup
	for i := range dirs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			if dirs[i], err = skeleton(rt, k); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	for _, d := range dirs {
		if d != dirs[0] {
			t.Fatalf("two skeletons for one shape: %s, %s", d, dirs[0])
		}
	}
	for _, p := range []string{"usr", "proc", ".claudebox/claudebox", "bin"} {
		if _, err := os.Lstat(filepath.Join(dirs[0], p)); err != nil {
			t.Error(err)
		}
	}
	entries, _ := os.ReadDir(rt)
	if len(entries) != 1 || !strings.HasPrefix(entries[0].Name(), skeletonPrefix) {
		t.Errorf("runtime directory holds %v", entries)
	}
}

// A launch directory in the making is swept once its maker is gone, and
// not while it runs.
func TestMakerGone(t *testing.T) {
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	dead := cmd.Process.Pid
	for name, want := range map[string]bool{
		".new-cb-0123456789ab-" + strconv.Itoa(dead):        true,
		".new-cb-0123456789ab-" + strconv.Itoa(os.Getpid()): false,
		".new-cb-0123456789ab":                              false,
		".new-rootfs-abc":                                   false,
	} {
		if got := makerGone(name); got != want {
			t.Errorf("makerGone(%q) = %v, want %v", name, got, want)
		}
	}
}
