package launch

import (
	"slices"
	"strconv"
	"testing"
)

func TestResolveGroups(t *testing.T) {
	for _, c := range []struct {
		name   string
		h      Host
		subgid int
		kept   []string
	}{
		{"root", Host{UID: 0, Groups: []int{4}, SubGID: 100000, NewGIDMap: true}, 0, nil},
		{"no groups", Host{UID: 1000, SubGID: 100000, NewGIDMap: true}, 0, nil},
		{"droppable", Host{UID: 1000, Groups: []int{4}, SubGID: 100000, NewGIDMap: true}, 100000, nil},
		{"no subgid", Host{UID: 1000, Groups: []int{424242}, NewGIDMap: true}, 0, []string{strconv.Itoa(424242)}},
		{"no newgidmap", Host{UID: 1000, Groups: []int{424242}, SubGID: 100000}, 0, []string{"424242"}},
	} {
		var s Spec
		ResolveGroups(&s, c.h)
		if s.SubGID != c.subgid || !slices.Equal(s.KeptGroups, c.kept) {
			t.Errorf("%s: SubGID %d, kept %q; want %d, %q", c.name, s.SubGID, s.KeptGroups, c.subgid, c.kept)
		}
	}
	if got := Important([]string{"video", "docker", "adm", "users"}); !slices.Equal(got, []string{"docker", "adm"}) {
		t.Errorf("Important: %q", got)
	}
}
