package network

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"syscall"

	"github.com/claudebox/claudebox/internal/registry"
	"github.com/claudebox/claudebox/launch"
)

// Holder is a process in a new user namespace, mapping the user as root
// as the sandbox's does, and a new network namespace owned by it. The inet
// sandbox joins both, instead of making its own: its network is then set
// up while libcontainer creates the container, not after (20 ms of the
// launch, overlapped). It holds them until stopped; the container and the
// network's open namespace files hold them after that.
//
// The holder ends when its stdin closes: when stopped, or when the
// launcher dies, however it dies.
type Holder struct {
	cmd     *exec.Cmd
	release *os.File // closing it ends the holder
}

// Hold starts the holder. With subgid (Spec.SubGID) the gid map
// is left to newgidmap, written once the holder runs: it maps one of the
// user's subordinate gids too, so setgroups is allowed in the namespace
// and pid1 can drop the user's supplementary groups.
func Hold(launcher string, uid, gid, subgid int) (*Holder, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	cmd := exec.Command(launcher, registry.NSHold)
	cmd.Stdin = r
	ready, err := cmd.StdoutPipe()
	if err != nil {
		w.Close()
		return nil, err
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:                 syscall.CLONE_NEWUSER | syscall.CLONE_NEWNET,
		UidMappings:                []syscall.SysProcIDMap{{ContainerID: 0, HostID: uid, Size: 1}},
		GidMappings:                []syscall.SysProcIDMap{{ContainerID: 0, HostID: gid, Size: 1}},
		GidMappingsEnableSetgroups: false,
	}
	if subgid != 0 {
		cmd.SysProcAttr.GidMappings = nil
	}
	// Start returns once the holder runs, its namespaces made and mapped;
	// "ok" comes once lo is up.
	if err := cmd.Start(); err != nil {
		w.Close()
		return nil, fmt.Errorf("making the sandbox's network namespace: %w", err)
	}
	h := &Holder{cmd: cmd, release: w}
	if b, _ := io.ReadAll(io.LimitReader(ready, 3)); string(b) != "ok\n" {
		h.Stop()
		return nil, fmt.Errorf("making the sandbox's network namespace: %s", lastLine(stderr.String(), errors.New("the holder failed")))
	}
	if subgid != 0 {
		if err := newGIDMap(h.Pid(), gid, subgid); err != nil {
			h.Stop()
			return nil, err
		}
	}
	return h, nil
}

// newGIDMap has the setuid newgidmap write pid's gid map: gid as root's
// group, and the subordinate gid subgid as group 1.
func newGIDMap(pid, gid, subgid int) error {
	tool, err := launch.HelperPath("newgidmap", "")
	if err != nil {
		return err
	}
	out, err := exec.Command(tool, strconv.Itoa(pid), "0", strconv.Itoa(gid), "1", "1", strconv.Itoa(subgid), "1").CombinedOutput()
	if err != nil {
		return &launch.HintError{Err: fmt.Errorf("newgidmap: %s", lastLine(string(out), err)),
			Hint: "check your range in /etc/subgid"}
	}
	return nil
}

// Pid is the holder's process id: /proc/PID/ns/{user,net} are the
// namespaces it holds.
func (h *Holder) Pid() int { return h.cmd.Process.Pid }

// Stop ends the holder, once everything that joins or opens its
// namespaces has done so.
func (h *Holder) Stop() {
	if h == nil || h.release == nil {
		return
	}
	h.release.Close()
	h.release = nil
	_ = h.cmd.Wait()
}
