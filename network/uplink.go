package network

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/claudebox/claudebox/internal/registry"
	"github.com/claudebox/claudebox/internal/trace"
	"github.com/claudebox/claudebox/launch"
	"github.com/claudebox/claudebox/netconf"
)

// slirpDriver is rootless inet with CLAUDEBOX_UPLINK=slirp4netns, and an
// exported inet bundle's (the relay, relayDriver, is the launches'
// default): slirp4netns, a user-mode TCP/IP stack, links the sandbox's
// namespace to the host: the sandbox gets 10.0.2.100 on tap0, a gateway
// and a DNS forwarder, and every connection leaves as one of the user's
// own sockets. Host loopback through the gateway is turned off. slirp4netns
// exits when the launcher does (--exit-fd).
type slirpDriver struct {
	uplink *exec.Cmd
	stopUp *os.File      // closing it stops the uplink (slirp4netns --exit-fd)
	upGone chan struct{} // closed once the killed uplink is reaped
}

// Prepare: the CNI list is the egress rules alone.
func (*slirpDriver) Prepare(_ *Attachment, opts netconf.Options) (netconf.Options, []string, error) {
	return opts, nil, nil
}

// Up starts slirp4netns and waits until it is ready.
func (d *slirpDriver) Up(a *Attachment) error {
	slirp, err := launch.HelperPath("slirp4netns", a.Launcher)
	if err != nil {
		return err
	}
	if err := CheckTun(); err != nil {
		return err
	}
	exitR, exitW, err := os.Pipe()
	if err != nil {
		return err
	}
	readyR, readyW, err := os.Pipe()
	if err != nil {
		exitR.Close()
		exitW.Close()
		return err
	}
	defer readyR.Close()
	// slirp4netns runs in the sandbox's user namespace (joined by this
	// binary before it execs slirp4netns: registry.UsernsExec), so that it
	// can sandbox itself (--enable-sandbox: its own mount namespace, no
	// filesystem) and only has to enter the network namespace; it stays in
	// the host's network namespace for its outbound sockets.
	cmd := exec.Command(a.Launcher, registry.UsernsExec, slirp, "--configure", "--mtu="+strconv.Itoa(netconf.UplinkMTU),
		"--disable-host-loopback", "--enable-sandbox", "--enable-seccomp",
		"--exit-fd=3", "--ready-fd=4", "--netns-type=path", "/proc/self/fd/6", netconf.UplinkDevice)
	cmd.ExtraFiles = []*os.File{exitR, readyW, a.userns, a.netns} // fds 3, 4, 5, 6
	cmd.Env = []string{registry.EnvUserns + "=/proc/self/fd/5"}
	if alt := upstreamResolvConf(); alt != "" {
		cmd.Env = append(cmd.Env, registry.EnvResolvConf+"="+alt)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err = cmd.Start()
	exitR.Close()
	readyW.Close()
	if err != nil {
		exitW.Close()
		return fmt.Errorf("starting slirp4netns: %w", err)
	}
	d.uplink, d.stopUp = cmd, exitW
	ready := make(chan error, 1)
	go func() {
		b := make([]byte, 1)
		_, err := readyR.Read(b)
		ready <- err
	}()
	select {
	case err = <-ready:
	case <-time.After(10 * time.Second):
		err = errors.New("timed out")
	}
	if err != nil {
		return fmt.Errorf("slirp4netns did not come up: %s", strings.TrimSpace(stderr.String()))
	}
	return nil
}

// Down kills the uplink; Settle awaits it. Its exit, in the kernel, takes
// 10-30 ms (closing the tap device unregisters it, which waits in
// rcu_barrier), and overlaps the rest of the clean-up that way. Not
// awaiting it at all would save another ~12 ms, but leave a dying
// process, and a zombie for init to reap, behind the launcher.
func (d *slirpDriver) Down(*Attachment) {
	if d.uplink == nil {
		return
	}
	// slirp4netns holds no state worth a graceful exit, and noticing its
	// exit fd took it tens of milliseconds.
	_ = d.uplink.Process.Kill()
	d.upGone = make(chan struct{})
	go func() { _ = d.uplink.Wait(); close(d.upGone) }()
	d.stopUp.Close()
}

func (d *slirpDriver) Settle() {
	if d.upGone != nil {
		<-d.upGone
		trace.Step("uplink gone")
	}
}

// upstreamResolvConf returns a resolv.conf for the uplink's DNS forwarder
// when the host's only names loopback resolvers (systemd-resolved's
// 127.0.0.53), which the uplink, kept off the host's loopback, cannot
// reach: systemd-resolved's list of the real upstream servers. "" when the
// host's own will do.
func upstreamResolvConf() string {
	const resolved = "/run/systemd/resolve/resolv.conf"
	b, err := os.ReadFile("/etc/resolv.conf")
	if err != nil || !onlyLoopbackResolvers(b) {
		return ""
	}
	if up, err := os.ReadFile(resolved); err == nil && !onlyLoopbackResolvers(up) {
		return resolved
	}
	return ""
}

// onlyLoopbackResolvers reports whether a resolv.conf names nameservers,
// all of them on loopback.
func onlyLoopbackResolvers(resolvConf []byte) bool {
	n := 0
	for _, line := range strings.Split(string(resolvConf), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || f[0] != "nameserver" {
			continue
		}
		n++
		if a, err := netip.ParseAddr(f[1]); err != nil || !a.Unmap().IsLoopback() {
			return false
		}
	}
	return n > 0
}

// CheckTun fails when /dev/net/tun cannot be opened, which slirp4netns
// needs. Some VMs ship it 0600 (distros: 0666).
func CheckTun() error {
	f, err := os.OpenFile("/dev/net/tun", os.O_RDWR, 0)
	if err != nil {
		return &launch.HintError{Err: fmt.Errorf("/dev/net/tun: %w", err),
			Hint: "the inet tier needs /dev/net/tun usable by you: sudo chmod 0666 /dev/net/tun (the distribution default)"}
	}
	return f.Close()
}
