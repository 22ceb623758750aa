package bundle

import (
	"slices"
	"strings"
	"testing"

	"github.com/claudebox/claudebox/launch"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestSeccomp(t *testing.T) {
	f, err := Seccomp(Pid1Caps(&launch.Spec{UID: 1000, SubGID: 100000}))
	if err != nil {
		t.Fatal(err)
	}
	if f.DefaultAction != specs.ActErrno {
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
	oci := mustBuild(t, cases["user"], Layout{Seccomp: "/cache/f.bpf"})
	if !slices.Contains(oci.Process.Args, "--seccomp="+SeccompPath) || !slices.Contains(oci.Process.Args, "--tty-filter") {
		t.Errorf("pid1 does not load the filters: %v", oci.Process.Args)
	}
	if !slices.ContainsFunc(oci.Mounts, func(m specs.Mount) bool { return m.Destination == SeccompPath && m.Source == "/cache/f.bpf" }) {
		t.Error("the compiled filter is not mounted for pid1")
	}
	if _, err := Build(cases["user"], Layout{}); err == nil {
		t.Error("a bundle without its seccomp filter was built")
	}
	off := *cases["user"]
	off.NoSeccomp = true
	if o := mustBuild(t, &off, Layout{}); slices.ContainsFunc(o.Process.Args, func(a string) bool { return a == "--tty-filter" || strings.HasPrefix(a, "--seccomp") }) {
		t.Error("--seccomp=off still has a filter")
	}
}
