package sandbox

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/claudebox/claudebox/launch"
	"github.com/claudebox/claudebox/netconf"
	"github.com/containernetworking/cni/libcni"
	"golang.org/x/sys/unix"
)

// ErrNetwork means a network tier could not be set up; the launch is
// refused rather than run with less isolation.
var ErrNetwork = errors.New("cannot set up the network")

// CNIHelperVerb is the hidden subcommand that runs libcni inside the
// sandbox's user namespace.
const CNIHelperVerb = "_cni"

// network is a sandbox's network namespace, set up between the
// container's creation and its command's start, in this order: the CNI
// list (loopback, and for inet the deny rules), then the uplink. So the
// first packet the sandbox can send already meets the rules.
//
// Rootless, the sandbox's network namespace belongs to its user namespace,
// which only a process inside that user namespace can administer. libcni
// and the plugins therefore run in a helper, this binary re-executed
// (CNIHelperVerb), that joins the user namespace before the Go runtime
// starts (cmd/claudebox/userns_join.go) and stays in the host's network
// namespace, as libcni wants.
type network struct {
	tier     launch.Tier
	dir      string   // <launch dir>/net: conflist, CNI cache, plugin links
	launcher string   // the claudebox binary
	paths    []string // CNI_PATH
	id       string
	userns   *os.File // held open, so DEL still finds the namespaces
	netns    *os.File
	added    bool
	uplink   *exec.Cmd
	stopUp   *os.File // closing it stops the uplink (slirp4netns --exit-fd)
}

// attachNetwork gives the container id, whose init is pid, the network nw,
// keeping its files (conflist, CNI cache) in dir. launcher is the claudebox
// binary, which serves the helper and the egress plugin. On error, whatever
// was set up is taken down again.
func attachNetwork(nw launch.Network, launcher, dir, id string, pid int) (n *network, err error) {
	n = &network{tier: nw.Tier, dir: dir, launcher: launcher, id: id}
	defer func() {
		if err != nil {
			n.detach()
			err = &launch.HintError{Err: fmt.Errorf("%w (%s): %w", ErrNetwork, n.tier, err), Hint: launch.Hint(err)}
		}
	}()
	pluginDir, err := findPluginDir(launcher)
	if err != nil {
		return n, err
	}
	links := filepath.Join(n.dir, "bin")
	if err := os.MkdirAll(links, 0o700); err != nil {
		return n, err
	}
	if err := os.Symlink(launcher, filepath.Join(links, netconf.EgressType)); err != nil {
		return n, err
	}
	n.paths = []string{links, pluginDir}
	if n.userns, err = os.Open(fmt.Sprintf("/proc/%d/ns/user", pid)); err != nil {
		return n, err
	}
	if n.netns, err = os.Open(fmt.Sprintf("/proc/%d/ns/net", pid)); err != nil {
		return n, err
	}
	conf, err := netconf.ConfList(n.tier, netconf.Options{HostAddrs: hostAddrs(), Allow: nw.Allow})
	if err != nil {
		return n, err
	}
	if err := os.WriteFile(filepath.Join(n.dir, "conflist.json"), conf, 0o600); err != nil {
		return n, err
	}
	if err := n.helper("add"); err != nil {
		return n, err
	}
	n.added = true
	if n.tier == launch.TierInet {
		if err := n.startUplink(); err != nil {
			return n, err
		}
	}
	return n, nil
}

// detach stops the uplink and runs CNI DEL; the namespaces go when their
// last holder closes them.
func (n *network) detach() {
	if n.uplink != nil {
		// slirp4netns holds no state worth a graceful exit, and noticing
		// its exit fd took it tens of milliseconds.
		_ = n.uplink.Process.Kill()
		_ = n.uplink.Wait()
		n.stopUp.Close()
	}
	if n.added {
		_ = n.helper("del")
	}
	for _, f := range []*os.File{n.userns, n.netns} {
		if f != nil {
			f.Close()
		}
	}
}

// helper runs CNI ADD or DEL in the sandbox's user namespace.
func (n *network) helper(op string) error {
	cmd := exec.Command(n.launcher, CNIHelperVerb, op, n.dir, strings.Join(n.paths, ":"), n.id)
	cmd.ExtraFiles = []*os.File{n.userns, n.netns} // fds 3 and 4
	cmd.Env = []string{"_CLAUDEBOX_USERNS=/proc/self/fd/3", "PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if traceOn {
		cmd.Env = append(cmd.Env, "CLAUDEBOX_TRACE=1")
		cmd.Stderr = io.MultiWriter(&stderr, os.Stderr)
	}
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("CNI %s: %s", strings.ToUpper(op), firstLine(stderr.String(), err))
	}
	return nil
}

// UsernsExecVerb is the hidden subcommand that execs a program in the
// sandbox's user namespace (joined by the constructor).
const UsernsExecVerb = "_userns-exec"

// UsernsExecMain execs args[0] with args, keeping the inherited files.
// With _CLAUDEBOX_RESOLV_CONF it first gives the program a mount namespace
// of its own where that file is /etc/resolv.conf.
func UsernsExecMain(args []string) int {
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "usage: claudebox _userns-exec PROGRAM [ARGS...]")
		return 125
	}
	if alt := os.Getenv("_CLAUDEBOX_RESOLV_CONF"); alt != "" {
		os.Unsetenv("_CLAUDEBOX_RESOLV_CONF")
		// The namespace belongs to this thread, which then execs.
		runtime.LockOSThread()
		err := unix.Unshare(unix.CLONE_NEWNS)
		if err == nil {
			err = unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, "")
		}
		if err == nil {
			err = unix.Mount(alt, "/etc/resolv.conf", "", unix.MS_BIND, "")
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "claudebox: resolv.conf for the uplink: %v\n", err)
			return 125
		}
	}
	err := syscall.Exec(args[0], args, os.Environ())
	fmt.Fprintf(os.Stderr, "claudebox: exec %s: %v\n", args[0], err)
	return 125
}

// CNIHelperMain is the helper: `claudebox _cni add|del DIR CNI_PATH ID`,
// with the user namespace joined already and the network namespace on
// fd 4.
func CNIHelperMain(args []string) int {
	fs := flag.NewFlagSet(CNIHelperVerb, flag.ContinueOnError)
	if err := fs.Parse(args); err != nil || fs.NArg() != 4 {
		fmt.Fprintln(os.Stderr, "usage: claudebox _cni add|del DIR CNI_PATH ID")
		return 125
	}
	op, dir, path, id := fs.Arg(0), fs.Arg(1), fs.Arg(2), fs.Arg(3)
	b, err := os.ReadFile(filepath.Join(dir, "conflist.json"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 125
	}
	list, err := libcni.ConfListFromBytes(b)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 125
	}
	cni := libcni.NewCNIConfigWithCacheDir(filepath.SplitList(path), filepath.Join(dir, "cache"), nil)
	rt := &libcni.RuntimeConf{ContainerID: id, NetNS: fmt.Sprintf("/proc/%d/fd/4", os.Getpid()), IfName: "eth0"}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	trace("cni helper " + op + " started")
	defer trace("cni helper " + op + " done")
	switch op {
	case "add":
		if _, err = cni.AddNetworkList(ctx, list, rt); err != nil {
			_ = cni.DelNetworkList(ctx, list, rt) // libcni does not roll back
		}
	case "del":
		err = cni.DelNetworkList(ctx, list, rt)
	default:
		err = fmt.Errorf("unknown operation %q", op)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// startUplink connects the sandbox to the host's network through
// slirp4netns, a user-mode TCP/IP stack: the sandbox gets 10.0.2.100 on
// tap0, a gateway and a DNS forwarder, and every connection leaves as one
// of the user's own sockets. Host loopback through the gateway is turned
// off. slirp4netns exits when the launcher does (--exit-fd).
func (n *network) startUplink() error {
	slirp, err := exec.LookPath("slirp4netns")
	if err != nil {
		return &launch.HintError{Err: errors.New("slirp4netns is not installed"), Hint: "install it: sudo apt-get install slirp4netns"}
	}
	if err := checkTun(); err != nil {
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
	// binary before it execs slirp4netns), so that it can sandbox itself
	// (--enable-sandbox: its own mount namespace, no filesystem) and only
	// has to enter the network namespace; it stays in the host's network
	// namespace for its outbound sockets.
	cmd := exec.Command(n.launcher, UsernsExecVerb, slirp, "--configure", "--mtu="+strconv.Itoa(netconf.UplinkMTU),
		"--disable-host-loopback", "--enable-sandbox", "--enable-seccomp",
		"--exit-fd=3", "--ready-fd=4", "--netns-type=path", "/proc/self/fd/6", netconf.UplinkDevice)
	cmd.ExtraFiles = []*os.File{exitR, readyW, n.userns, n.netns} // fds 3, 4, 5, 6
	cmd.Env = []string{"_CLAUDEBOX_USERNS=/proc/self/fd/5"}
	if alt := upstreamResolvConf(); alt != "" {
		cmd.Env = append(cmd.Env, "_CLAUDEBOX_RESOLV_CONF="+alt)
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
	n.uplink, n.stopUp = cmd, exitW
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

// checkTun fails when /dev/net/tun cannot be opened, which slirp4netns
// needs. Some VMs ship it 0600 (distros: 0666).
func checkTun() error {
	f, err := os.OpenFile("/dev/net/tun", os.O_RDWR, 0)
	if err != nil {
		return &launch.HintError{Err: fmt.Errorf("/dev/net/tun: %w", err),
			Hint: "the inet tier needs /dev/net/tun usable by you: sudo chmod 0666 /dev/net/tun (the distribution default)"}
	}
	return f.Close()
}

// PluginDir is findPluginDir, for export-bundle.
func PluginDir(launcher string) (string, error) { return findPluginDir(launcher) }

// findPluginDir finds the standard CNI plugins (loopback): beside the
// binary (bin/cni after make build), in claudebox's lib directory, or the
// usual CNI directories; CLAUDEBOX_CNI_PATH overrides.
func findPluginDir(launcher string) (string, error) {
	candidates := []string{
		filepath.Join(filepath.Dir(launcher), "cni"),
		filepath.Join(filepath.Dir(launcher), "..", "lib", "claudebox", "cni"),
		"/usr/lib/cni", "/opt/cni/bin",
	}
	if p := os.Getenv("CLAUDEBOX_CNI_PATH"); p != "" {
		candidates = []string{p}
	}
	for _, d := range candidates {
		if fi, err := os.Stat(filepath.Join(d, "loopback")); err == nil && fi.Mode()&0o111 != 0 {
			return filepath.Clean(d), nil
		}
	}
	return "", &launch.HintError{Err: fmt.Errorf("the CNI loopback plugin is missing (looked in %s)", strings.Join(candidates, ", ")),
		Hint: "build it with `make build` (bin/cni) and keep it beside claudebox, or set CLAUDEBOX_CNI_PATH"}
}

// hostAddrs are the host's own addresses (the inet tier denies them).
func hostAddrs() []netip.Addr {
	addrs, _ := net.InterfaceAddrs()
	var out []netip.Addr
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		if ip, ok := netip.AddrFromSlice(ipn.IP); ok && !ip.Unmap().IsLoopback() {
			out = append(out, ip.Unmap())
		}
	}
	return out
}

func firstLine(s string, err error) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return err.Error()
	}
	if i := strings.LastIndex(s, "\n"); i >= 0 {
		s = s[i+1:]
	}
	return s
}
