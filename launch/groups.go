package launch

import (
	"bufio"
	"os"
	"os/user"
	"slices"
	"strconv"
	"strings"
)

// ImportantGroups are the supplementary groups that matter in a sandbox:
// root-equivalent (docker, lxd, incus, libvirt, disk, sudo, wheel) or able
// to read the host's logs (adm, systemd-journal).
var ImportantGroups = []string{"docker", "lxd", "incus", "incus-admin", "libvirt", "disk", "sudo", "wheel", "adm", "systemd-journal"}

// supplementaryGroups are the process's groups but its primary one.
func supplementaryGroups() []int {
	gs, err := os.Getgroups()
	if err != nil {
		return nil
	}
	return slices.DeleteFunc(gs, func(g int) bool { return g == os.Getgid() })
}

// firstSubGID is the start of the user's first subordinate gid range in
// /etc/subgid (by name or uid), 0 when it has none.
func firstSubGID(uid int) int {
	f, err := os.Open("/etc/subgid")
	if err != nil {
		return 0
	}
	defer f.Close()
	names := []string{strconv.Itoa(uid)}
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		names = append(names, u.Username)
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Split(strings.TrimSpace(sc.Text()), ":")
		if len(fields) != 3 || !slices.Contains(names, fields[0]) {
			continue
		}
		start, err1 := strconv.Atoi(fields[1])
		count, err2 := strconv.Atoi(fields[2])
		if err1 == nil && err2 == nil && start > 0 && count > 0 {
			return start
		}
	}
	return 0
}

// groupNames names gids, as the host does ("1234" when unnamed).
func groupNames(gids []int) []string {
	var out []string
	for _, g := range gids {
		name := strconv.Itoa(g)
		if gr, err := user.LookupGroupId(name); err == nil {
			name = gr.Name
		}
		out = append(out, name)
	}
	return out
}

// Important are those of groups that are ImportantGroups.
func Important(groups []string) []string {
	return slices.DeleteFunc(slices.Clone(groups), func(g string) bool { return !slices.Contains(ImportantGroups, g) })
}

// ResolveGroups decides what becomes of the user's supplementary groups.
// Rootless runc cannot drop them (setgroups is denied in a user namespace
// whose gid map the user wrote), so the sandbox gets one of the user's
// subordinate gids mapped too, by the setuid newgidmap, which allows
// setgroups there; pid1 then drops them. Without newgidmap or a subgid
// range they are kept, and said. Root's runtime drops them itself.
func ResolveGroups(s *Spec, h Host) {
	if h.UID == 0 || len(h.Groups) == 0 {
		return
	}
	if h.SubGID > 0 && h.NewGIDMap {
		s.SubGID = h.SubGID
		return
	}
	s.KeptGroups = groupNames(h.Groups)
}
