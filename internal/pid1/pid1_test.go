package pid1

import (
	"slices"
	"testing"
)

func TestParse(t *testing.T) {
	o, err := parse([]string{"--uid=1000", "--gid=1001", "--", "sh", "-c", "--uid=5"})
	if err != nil {
		t.Fatal(err)
	}
	if o.uid != 1000 || o.gid != 1001 || o.parentFD != -1 || o.seccomp != "" || o.ttyFilter || !slices.Equal(o.argv, []string{"sh", "-c", "--uid=5"}) {
		t.Errorf("parsed %+v", o)
	}
	o, err = parse([]string{"--uid=0", "--gid=0", "--parent-fd=3", "--seccomp=/f.bpf", "--tty-filter", "--", "true"})
	if err != nil || o.parentFD != 3 || o.seccomp != "/f.bpf" || !o.ttyFilter {
		t.Errorf("parsed %+v, %v", o, err)
	}
	for _, bad := range [][]string{
		nil,
		{"--uid=1", "--gid=1"},
		{"--uid=1", "--gid=1", "--"},
		{"--gid=1", "--", "true"},
		{"--uid=x", "--gid=1", "--", "true"},
		{"--bogus", "--", "true"},
		{"--uid=1", "--gid=1", "--parent-fd=x", "--", "true"},
	} {
		if _, err := parse(bad); err == nil {
			t.Errorf("parse(%q) accepted", bad)
		}
	}
}
