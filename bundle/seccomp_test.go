package bundle

import (
	"slices"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestSeccomp(t *testing.T) {
	oci := mustBuild(t, cases["user"], Layout{})
	f := oci.Linux.Seccomp
	if f == nil || f.DefaultAction != specs.ActErrno {
		t.Fatalf("no deny-by-default filter: %+v", f)
	}
	allowed := map[string]bool{}
	for _, sc := range f.Syscalls {
		if sc.Action == specs.ActAllow && len(sc.Args) == 0 {
			for _, n := range sc.Names {
				allowed[n] = true
			}
		}
	}
	for _, n := range denied {
		if allowed[n] {
			t.Errorf("%s is allowed", n)
		}
	}
	for _, n := range []string{"read", "write", "execve", "clone", "unshare", "mount", "ioctl"} {
		if !allowed[n] {
			t.Errorf("%s is not allowed", n)
		}
	}
	if !slices.Contains(oci.Process.Args, "--tty-filter") {
		t.Error("pid1 does not stack the terminal ioctl filter")
	}
	off := *cases["user"]
	off.NoSeccomp = true
	if o := mustBuild(t, &off, Layout{}); o.Linux.Seccomp != nil || slices.Contains(o.Process.Args, "--tty-filter") {
		t.Error("--seccomp=off still has a filter")
	}
}
