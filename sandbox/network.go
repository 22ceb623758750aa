package sandbox

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"github.com/claudebox/claudebox/internal/egress"
	"github.com/claudebox/claudebox/internal/registry"
	"github.com/claudebox/claudebox/launch"
	"github.com/claudebox/claudebox/netconf"
)

// ErrNetwork means a network tier could not be set up; the launch is
// refused rather than run with less isolation.
var ErrNetwork = errors.New("cannot set up the network")

// network is a sandbox's network namespace, set up before its command
// starts: the CNI list (the deny rules; as root, the bridge first) and the
// uplink. A launch sets it up in namespaces made beforehand (nsHolder),
// while libcontainer creates the container; an exported bundle's hook, in
// the ones runc made. The command starts only once both are in place, so
// the first packet it can send already meets the rules.
//
// Rootless, the sandbox's network namespace belongs to its user namespace,
// which only a process inside that user namespace can administer. libcni
// and the plugins therefore run in a helper, this binary re-executed
// (registry.CNI), that joins the user namespace before the Go runtime
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
	bridge   bool // the root shape: no uplink, a veth on claudebox's bridge
	uplink   *exec.Cmd
	stopUp   *os.File      // closing it stops the uplink (slirp4netns --exit-fd)
	upGone   chan struct{} // closed once the killed uplink is reaped
}

// attachNetwork gives the container id the network nw, in the user and
// network namespaces of process pid, keeping its files (conflist, CNI
// cache) in dir. launcher is the claudebox
// binary, which serves the helper and the egress plugin; resolvConf is the
// resolv.conf the sandbox sees, whose servers the root bridge lets through.
// On error, whatever was set up is taken down again, before it returns
// (and the network is nil).
func attachNetwork(nw launch.Network, launcher, dir, id string, pid int, resolvConf string) (n *network, err error) {
	n = &network{tier: nw.Tier, dir: dir, launcher: launcher, id: id}
	defer func() {
		if err != nil {
			n.detach()
			n.settle()
			err = &launch.HintError{Err: fmt.Errorf("%w (%s): %w", ErrNetwork, n.tier, err), Hint: launch.Hint(err)}
			n = nil
		}
	}()
	n.bridge = bridged(nw.Tier)
	links := filepath.Join(n.dir, "bin")
	if err := os.MkdirAll(links, 0o700); err != nil {
		return n, err
	}
	if err := os.Symlink(launcher, filepath.Join(links, netconf.EgressType)); err != nil {
		return n, err
	}
	n.paths = []string{links}
	if n.bridge {
		pluginDir, err := PluginDir(launcher)
		if err != nil {
			return n, err
		}
		n.paths = append(n.paths, pluginDir)
	}
	if n.userns, err = os.Open(fmt.Sprintf("/proc/%d/ns/user", pid)); err != nil {
		return n, err
	}
	if n.netns, err = os.Open(fmt.Sprintf("/proc/%d/ns/net", pid)); err != nil {
		return n, err
	}
	opts := netconf.Options{HostAddrs: hostAddrs(), Allow: nw.Allow}
	if n.bridge {
		// Root: a veth on claudebox's bridge. The host side (forward
		// deny, no host services, masquerade) comes first.
		// The servers the sandbox was given, read back: one source.
		opts.Bridge, opts.Resolvers = true, nameservers(resolvConf)
		allow := slices.Clone(nw.Allow)
		for _, r := range opts.Resolvers {
			allow = append(allow, launch.Allow{Prefix: netip.PrefixFrom(r, r.BitLen()), Port: 53})
		}
		if err := egress.InstallHost(netconf.BridgeName, netip.MustParsePrefix(netconf.BridgeSubnet), netconf.DenyList(opts.HostAddrs), allow); err != nil {
			return n, fmt.Errorf("host firewall: %w", err)
		}
	}
	conf, err := netconf.ConfList(n.tier, opts)
	if err != nil {
		return n, err
	}
	if err := os.WriteFile(filepath.Join(n.dir, "conflist.json"), conf, 0o600); err != nil {
		return n, err
	}
	// The rules and the uplink come up side by side: nothing in the
	// sandbox can send a packet before its command starts, and that waits
	// for both.
	added := make(chan error, 1)
	go func() { added <- n.helper("add") }()
	var upErr error
	if !n.bridge {
		upErr = n.startUplink()
	}
	addErr := <-added
	n.added = addErr == nil
	if addErr != nil {
		return n, addErr
	}
	return n, upErr
}

// detach stops the uplink and, for root's bridge, runs CNI DEL; the
// namespaces go when their last holder closes them.
//
// The uplink is killed here and awaited by settle: its exit, in the
// kernel, takes 10-30 ms (closing the tap device unregisters it, which
// waits in rcu_barrier), and overlaps the rest of the clean-up that way.
// Not awaiting it at all would save another ~12 ms, but leave a dying
// process, and a zombie for init to reap, behind the launcher.
//
// Rootless, DEL is not run: what ADD made (the egress table) lives in the
// sandbox's own network namespace, which goes with the sandbox, and
// the CNI cache goes with the launch directory. DEL would undo it one
// plugin execution at a time, 15-30 ms for nothing.
func (n *network) detach() {
	if n.uplink != nil {
		// slirp4netns holds no state worth a graceful exit, and noticing
		// its exit fd took it tens of milliseconds.
		_ = n.uplink.Process.Kill()
		n.upGone = make(chan struct{})
		go func() { _ = n.uplink.Wait(); close(n.upGone) }()
		n.stopUp.Close()
	}
	if n.added && n.bridge {
		_ = n.helper("del")
	}
	for _, f := range []*os.File{n.userns, n.netns} {
		if f != nil {
			f.Close()
		}
	}
}

// settle waits until a stopped uplink is gone. A nil network has none.
func (n *network) settle() {
	if n != nil && n.upGone != nil {
		<-n.upGone
		trace("uplink gone")
	}
}

// helper runs CNI ADD or DEL in the sandbox's user namespace.
func (n *network) helper(op string) error {
	cmd := exec.Command(n.launcher, registry.CNI, op, n.dir, strings.Join(n.paths, ":"), n.id)
	cmd.ExtraFiles = []*os.File{n.userns, n.netns} // fds 3 and 4
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	if !n.bridge {
		// Rootless: the plugins must act from inside the sandbox's user
		// namespace. Root's bridge plugin works on the host's network
		// namespace too, so it stays in the host's.
		cmd.Env = append(cmd.Env, registry.EnvUserns+"=/proc/self/fd/3")
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if traceOn {
		cmd.Env = append(cmd.Env, "CLAUDEBOX_TRACE=1")
		cmd.Stderr = io.MultiWriter(&stderr, os.Stderr)
	}
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("CNI %s: %s", strings.ToUpper(op), lastLine(stderr.String(), err))
	}
	return nil
}

// PluginDir finds the standard CNI plugins root's inet uses (bridge,
// host-local): beside the binary (bin/cni after make build), in
// claudebox's lib directory, or the usual CNI directories;
// CLAUDEBOX_CNI_PATH overrides. Rootless, inet needs none of them.
func PluginDir(launcher string) (string, error) {
	candidates := []string{
		filepath.Join(filepath.Dir(launcher), "cni"),
		filepath.Join(filepath.Dir(launcher), "..", "lib", "claudebox", "cni"),
		"/usr/lib/cni", "/opt/cni/bin",
	}
	if p := os.Getenv("CLAUDEBOX_CNI_PATH"); p != "" {
		candidates = []string{p}
	}
	for _, d := range candidates {
		if fi, err := os.Stat(filepath.Join(d, "bridge")); err == nil && fi.Mode()&0o111 != 0 {
			return filepath.Clean(d), nil
		}
	}
	return "", &launch.HintError{Err: fmt.Errorf("the CNI bridge plugin is missing (looked in %s)", strings.Join(candidates, ", ")),
		Hint: "build it with `make build` (bin/cni) and keep it beside claudebox, or set CLAUDEBOX_CNI_PATH"}
}

// bridged reports whether a tier uses the root shape: inet, launched by
// root.
func bridged(t launch.Tier) bool { return t == launch.TierInet && os.Geteuid() == 0 }

// NeedsPlugins reports whether a launch of tier t needs the standard CNI
// plugins (PluginDir): root's inet.
func NeedsPlugins(t launch.Tier) bool { return bridged(t) }

// ResolvConfServers are the nameservers of a tier's resolv.conf: nil for
// the uplink's forwarder, the host's for the root bridge.
func ResolvConfServers(t launch.Tier) []string {
	if !bridged(t) {
		return nil
	}
	var out []string
	for _, r := range bridgeResolvers() {
		out = append(out, r.String())
	}
	return out
}

// bridgeResolvers are the DNS servers a bridged sandbox uses: the host's,
// or systemd-resolved's upstream list when the host's are on loopback.
func bridgeResolvers() []netip.Addr {
	path := "/etc/resolv.conf"
	if alt := upstreamResolvConf(); alt != "" {
		path = alt
	}
	return nameservers(path)
}

// nameservers are the IPv4 nameservers of a resolv.conf, loopback ones
// left out (a sandbox cannot reach the host's loopback).
func nameservers(path string) []netip.Addr {
	b, _ := os.ReadFile(path)
	var out []netip.Addr
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "nameserver" {
			if a, err := netip.ParseAddr(f[1]); err == nil && a.Is4() && !a.IsLoopback() {
				out = append(out, a)
			}
		}
	}
	return out
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

// lastLine is the last line a helper printed on stderr (its error), or
// err when it printed nothing.
func lastLine(s string, err error) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return err.Error()
	}
	if i := strings.LastIndex(s, "\n"); i >= 0 {
		s = s[i+1:]
	}
	return s
}
