// Package network gives a sandbox the network of its tier, outside the
// sandbox: the namespace holder (Hold), the CNI list run in the sandbox's
// namespaces by a helper (CNIHelperMain), the link to the host through a
// Driver (rootless: the relay, relay.go, or slirp4netns when
// CLAUDEBOX_UPLINK=slirp4netns asks, uplink.go; root: the bridge with
// claudebox's host firewall), and the OCI hook and keeper that do the same
// for an exported bundle under runc, with slirp4netns (HookMain,
// KeeperMain). The configuration itself
// (conflists, the deny set) is package netconf's; the nftables rules are
// package egress's.
package network

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
	"github.com/claudebox/claudebox/internal/trace"
	"github.com/claudebox/claudebox/launch"
	"github.com/claudebox/claudebox/netconf"
)

// ErrNetwork means a network tier could not be set up; the launch is
// refused rather than run with less isolation.
var ErrNetwork = errors.New("cannot set up the network")

// A Driver is how one shape of a tier links a sandbox's network namespace
// to the host's network (rootlesskit's network.ParentDriver is the
// model). Attach runs the CNI list in the sandbox's namespaces
// (claudebox's egress rules, and what the driver adds to the list) side by
// side with the driver's Up; Detach runs Down. Rootless allowlist and
// inet are relayDriver (slirpDriver with CLAUDEBOX_UPLINK=slirp4netns, and
// in an exported bundle's hook); root's inet is bridgeDriver.
type Driver interface {
	// Prepare readies the host side before the CNI list runs, and returns
	// the list's options and the plugin directories it needs besides
	// claudebox's own.
	Prepare(a *Attachment, opts netconf.Options) (netconf.Options, []string, error)
	// Up links the namespace to the host, while the list is added.
	Up(a *Attachment) error
	// Down undoes Up and what the driver added; Settle waits for what
	// Down left ending.
	Down(a *Attachment)
	Settle()
}

// driverFor is the driver of an attachment: root's bridge, the relay when
// the holder made its sockets, else slirp4netns.
func driverFor(o AttachOptions) Driver {
	switch {
	case bridged(o.Network.Tier):
		return &bridgeDriver{}
	case o.Relay != nil:
		return &relayDriver{sockets: o.Relay}
	}
	return &slirpDriver{}
}

// AttachOptions say which sandbox gets which network.
type AttachOptions struct {
	Network launch.Network
	// Launcher is the claudebox binary, which serves the CNI helper and
	// the egress plugin.
	Launcher string
	// Dir keeps the attachment's files (conflist, CNI cache, plugin
	// links); ID names the container to CNI.
	Dir, ID string
	// Pid is a process in the sandbox's user and network namespaces (the
	// holder, or a container's init).
	Pid int
	// ResolvConf is the resolv.conf the sandbox sees, whose servers root's
	// bridge lets through.
	ResolvConf string
	// Relay are the relay's sockets (Holder.Relay): the allowlist tier,
	// and rootless inet when UseRelay, go through the relay.
	Relay *RelaySockets
	// LogPath is where the allowlist tier logs its decisions ("": nowhere).
	LogPath string
}

// Attachment is a sandbox's network namespace, set up before its command
// starts: the CNI list (the deny rules; as root, the bridge first) and the
// driver's link to the host. A launch sets it up in namespaces made
// beforehand (Holder), while libcontainer creates the container; an
// exported bundle's hook, in the ones runc made. The command starts only
// once both are in place, so the first packet it can send already meets
// the rules.
//
// Rootless, the sandbox's network namespace belongs to its user namespace,
// which only a process inside that user namespace can administer. libcni
// and the plugins therefore run in a helper, this binary re-executed
// (registry.CNI), that joins the user namespace before the Go runtime
// starts (holder_join.c) and stays in the host's network
// namespace, as libcni wants.
type Attachment struct {
	AttachOptions
	driver Driver
	paths  []string // CNI_PATH
	userns *os.File // held open, so DEL still finds the namespaces
	netns  *os.File
	added  bool
	bridge bool // root's shape: CNI runs in the host's user namespace
}

// Attach gives the sandbox its network. On error, whatever was set up is
// taken down again before it returns (and the Attachment is nil).
func Attach(o AttachOptions) (a *Attachment, err error) {
	a = &Attachment{AttachOptions: o, driver: driverFor(o), bridge: bridged(o.Network.Tier)}
	defer func() {
		if err != nil {
			a.Detach()
			a.Settle()
			err = &launch.HintError{Err: fmt.Errorf("%w (%s): %w", ErrNetwork, o.Network.Tier, err), Hint: launch.Hint(err)}
			a = nil
		}
	}()
	links := filepath.Join(a.Dir, "bin")
	if err := os.MkdirAll(links, 0o700); err != nil {
		return a, err
	}
	if err := os.Symlink(a.Launcher, filepath.Join(links, netconf.EgressType)); err != nil {
		return a, err
	}
	if a.userns, err = os.Open(fmt.Sprintf("/proc/%d/ns/user", a.Pid)); err != nil {
		return a, err
	}
	if a.netns, err = os.Open(fmt.Sprintf("/proc/%d/ns/net", a.Pid)); err != nil {
		return a, err
	}
	opts, plugins, err := a.driver.Prepare(a, netconf.Options{HostAddrs: hostAddrs(), Allow: a.Network.Allow})
	if err != nil {
		return a, err
	}
	a.paths = append([]string{links}, plugins...)
	conf, err := netconf.ConfList(a.Network.Tier, opts)
	if err != nil {
		return a, err
	}
	if err := os.WriteFile(filepath.Join(a.Dir, "conflist.json"), conf, 0o600); err != nil {
		return a, err
	}
	// The rules and the link come up side by side: nothing in the
	// sandbox can send a packet before its command starts, and that waits
	// for both.
	added := make(chan error, 1)
	go func() { added <- a.helper("add") }()
	upErr := a.driver.Up(a)
	addErr := <-added
	a.added = addErr == nil
	if addErr != nil {
		return a, addErr
	}
	return a, upErr
}

// Detach takes the network down (Driver.Down); the namespaces go when
// their last holder closes them.
//
// Rootless, CNI DEL is not run: what ADD made (the egress table) lives in
// the sandbox's own network namespace, which goes with the sandbox, and
// the CNI cache goes with the launch directory. DEL would undo it one
// plugin execution at a time, 15-30 ms for nothing.
func (a *Attachment) Detach() {
	a.driver.Down(a)
	for _, f := range []*os.File{a.userns, a.netns} {
		if f != nil {
			f.Close()
		}
	}
}

// Summary says, in one line, what the allowlist tier refused; "" for
// nothing (and other tiers).
func (a *Attachment) Summary() string {
	if a == nil {
		return ""
	}
	if d, ok := a.driver.(*relayDriver); ok {
		return d.summary()
	}
	return ""
}

// Settle waits until what Detach stopped is gone. A nil Attachment has
// nothing.
func (a *Attachment) Settle() {
	if a != nil {
		a.driver.Settle()
	}
}

// bridgeDriver is root's inet: a veth on claudebox's bridge (the standard
// bridge and host-local plugins), firewalled on the host in claudebox's
// own table: forward deny, no host services, masquerade.
type bridgeDriver struct{}

func (bridgeDriver) Prepare(a *Attachment, opts netconf.Options) (netconf.Options, []string, error) {
	pluginDir, err := PluginDir(a.Launcher)
	if err != nil {
		return opts, nil, err
	}
	// The servers the sandbox was given, read back: one source.
	opts.Bridge, opts.Resolvers = true, nameservers(a.ResolvConf, false)
	allow := slices.Clone(a.Network.Allow)
	for _, r := range opts.Resolvers {
		allow = append(allow, launch.Allow{Prefix: netip.PrefixFrom(r, r.BitLen()), Port: 53})
	}
	if err := egress.InstallHost(netconf.BridgeName, netip.MustParsePrefix(netconf.BridgeSubnet), netconf.DenyList(opts.HostAddrs), allow); err != nil {
		return opts, nil, fmt.Errorf("host firewall: %w", err)
	}
	return opts, []string{pluginDir}, nil
}

// Up: the bridge plugin, in the CNI list, is the link.
func (bridgeDriver) Up(*Attachment) error { return nil }

// Down runs CNI DEL: the veth and the IPAM lease are on the host.
func (bridgeDriver) Down(a *Attachment) {
	if a.added {
		_ = a.helper("del")
	}
}

func (bridgeDriver) Settle() {}

// helper runs CNI ADD or DEL in the sandbox's user namespace.
func (a *Attachment) helper(op string) error {
	cmd := exec.Command(a.Launcher, registry.CNI, op, a.Dir, strings.Join(a.paths, ":"), a.ID)
	cmd.ExtraFiles = []*os.File{a.userns, a.netns} // fds 3 and 4
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	if !a.bridge {
		// Rootless: the plugins must act from inside the sandbox's user
		// namespace. Root's bridge plugin works on the host's network
		// namespace too, so it stays in the host's.
		cmd.Env = append(cmd.Env, registry.EnvUserns+"=/proc/self/fd/3")
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if trace.On {
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

// UseRelay reports whether a launch of tier t goes through the relay
// (relayDriver): the allowlist tier, and rootless inet, unless
// CLAUDEBOX_UPLINK=slirp4netns asks for the user-mode stack it replaced
// (make bench measures both). An exported bundle's hook uses slirp4netns:
// no launcher runs a relay under plain runc.
func UseRelay(t launch.Tier) bool {
	return t == launch.TierAllowlist || t == launch.TierInet && !bridged(t) && os.Getenv("CLAUDEBOX_UPLINK") != "slirp4netns"
}

// ResolvConfServers are the nameservers of a tier's resolv.conf, with
// relay (UseRelay; false for an exported bundle, whose hook uses
// slirp4netns) or not: the relay's DNS stub, nil for the uplink's
// forwarder, the host's for the root bridge.
func ResolvConfServers(t launch.Tier, relay bool) []string {
	if relay {
		return []string{RelayDNS}
	}
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
	return nameservers(path, false)
}

// nameservers are the IPv4 nameservers of a resolv.conf; loopback ones
// only with loopback (a sandbox cannot reach the host's loopback, the
// relay in the host's network namespace can).
func nameservers(path string, loopback bool) []netip.Addr {
	b, _ := os.ReadFile(path)
	var out []netip.Addr
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "nameserver" {
			if a, err := netip.ParseAddr(f[1]); err == nil && a.Is4() && (loopback || !a.IsLoopback()) {
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
