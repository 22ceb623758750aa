package network

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"

	"github.com/claudebox/claudebox/internal/registry"
	"github.com/claudebox/claudebox/launch"
	"golang.org/x/sys/unix"
)

// Holder is a process in a new user namespace, mapping the user as root
// as the sandbox's does, and a new network namespace owned by it. An inet
// or allowlist sandbox joins both, instead of making its own: its network is then set
// up while libcontainer creates the container, not after (20 ms of the
// launch, overlapped). It holds them until stopped; the container and the
// network's open namespace files hold them after that.
//
// The holder ends when its stdin closes: when stopped, or when the
// launcher dies, however it dies.
type Holder struct {
	cmd     *exec.Cmd
	release *os.File // closing it ends the holder
	// Relay are the relay's sockets, made in the sandbox's network
	// namespace (HoldOptions.Relay); nil for slirp4netns.
	Relay *RelaySockets
}

// HoldOptions say whose namespaces to hold, and what to make in them.
type HoldOptions struct {
	// Launcher is the claudebox binary, which serves the holder.
	Launcher string
	UID, GID int
	// SubGID (Spec.SubGID), when not 0, leaves the gid map to newgidmap,
	// written once the holder runs: it maps one of the user's subordinate
	// gids too, so setgroups is allowed in the namespace and pid1 can drop
	// the user's supplementary groups.
	SubGID int
	// Relay has the holder make the relay's sockets (relayDriver).
	Relay bool
}

// Hold starts the holder.
func Hold(o HoldOptions) (*Holder, error) {
	uid, gid, subgid := o.UID, o.GID, o.SubGID
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	// Its stdout is a unix socket: "ok" comes on it, with the relay's
	// sockets when asked for.
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		w.Close()
		return nil, err
	}
	child, parent := os.NewFile(uintptr(pair[0]), "holder"), os.NewFile(uintptr(pair[1]), "holder")
	defer parent.Close()
	cmd := exec.Command(o.Launcher, registry.NSHold)
	cmd.Stdin, cmd.Stdout = r, child
	if o.Relay {
		cmd.Env = append(os.Environ(), registry.EnvRelay+"=1")
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
	// "ok" comes once lo is up (and the relay's sockets are made).
	err = cmd.Start()
	child.Close()
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("making the sandbox's network namespace: %w", err)
	}
	h := &Holder{cmd: cmd, release: w}
	fds, err := readReady(parent, o.Relay)
	if err != nil {
		h.Stop()
		return nil, fmt.Errorf("making the sandbox's network namespace: %s", lastLine(stderr.String(), err))
	}
	if o.Relay {
		if h.Relay, err = relaySockets(fds); err != nil {
			h.Stop()
			return nil, err
		}
	}
	if subgid != 0 {
		if err := newGIDMap(h.Pid(), gid, subgid); err != nil {
			h.Stop()
			return nil, err
		}
	}
	return h, nil
}

// readReady reads the holder's "ok", and with relay the three sockets
// that come with it.
func readReady(conn *os.File, relay bool) ([]int, error) {
	buf, oob := make([]byte, 3), make([]byte, unix.CmsgSpace(3*4))
	n, oobn, _, _, err := unix.Recvmsg(int(conn.Fd()), buf, oob, unix.MSG_CMSG_CLOEXEC)
	if err != nil || string(buf[:n]) != "ok\n" {
		return nil, errors.New("the holder failed")
	}
	if !relay {
		return nil, nil
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		return nil, errors.New("the holder sent no sockets")
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 3 {
		for _, fd := range fds {
			unix.Close(fd)
		}
		return nil, errors.New("the holder sent no sockets")
	}
	return fds, nil
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
