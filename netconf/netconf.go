// Package netconf turns a network tier into the CNI configuration list
// that sets it up, from typed plugin structs, checked with libcni. It is
// pure: tier in, JSON out.
//
//	none  (no CNI)                      a new netns; runc's init brings lo
//	                                    up in every netns it makes
//	inet  claudebox-egress              the egress deny rules; rootless,
//	                                    the redirect to the relay (Relay),
//	                                    or slirp4netns's uplink attached
//	                                    once the rules are in. As root:
//	                                    bridge + host-local first
//	allowlist claudebox-egress          as rootless inet with the relay,
//	                                    which admits only what is listed
//	full  (no CNI)                      the host's network namespace
//
// No list has CNI's loopback plugin: lo comes up with the namespace (runc's
// init brings it up in every one it makes; a launch's inet namespace
// holder does too), and the plugin would do it a second time.
package netconf

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"

	"github.com/claudebox/claudebox/launch"
	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/types"
)

// CNIVersion is the CNI spec version of the generated lists.
const CNIVersion = "1.0.0"

// EgressType is claudebox's own egress plugin, served by the claudebox
// binary when invoked under that name.
const EgressType = "claudebox-egress"

// Uplink addresses, as slirp4netns --configure sets them up.
const (
	UplinkDevice = "tap0"
	UplinkDNS    = "10.0.2.3"
	UplinkMTU    = 65520
)

// Deny4 and Deny6 are the destinations the inet tier rejects: private,
// shared (CGNAT, Tailscale), link-local (cloud metadata), loopback,
// benchmarking, multicast and reserved ranges, and IPv4-mapped IPv6 (a
// bypass if missed). The host's own addresses are added at launch.
var (
	Deny4 = []string{
		"0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
		"172.16.0.0/12", "192.0.0.0/24", "192.168.0.0/16", "198.18.0.0/15",
		"224.0.0.0/4", "240.0.0.0/4",
	}
	Deny6 = []string{
		"::/127", "::ffff:0:0/96", "64:ff9b:1::/48", "fc00::/7", "fe80::/10", "ff00::/8",
	}
)

// EgressConf is the configuration of the claudebox-egress plugin.
type EgressConf struct {
	types.PluginConf
	// Deny are the rejected destination prefixes (v4 and v6).
	Deny []string `json:"deny"`
	// Allow are let through before the deny.
	Allow []launch.Allow `json:"allow,omitempty"`
	// Resolver is the DNS server the sandbox may query on port 53 (the uplink's
	// forwarder) although it is in a denied range.
	Resolver string `json:"resolver"`
	// BlockIPv6 rejects all IPv6 but loopback: the uplink is IPv4 only,
	// and nothing IPv6 may leave by another way.
	BlockIPv6 bool `json:"blockIPv6"`
	// Relay, when set, is the relay's shape (see package network): the
	// namespace gets Relay.Addr on its loopback and the default route
	// through it, outbound TCP is redirected to the relay's listener on
	// Relay.Port, and all UDP but to its own loopback (the DNS stub) is
	// rejected.
	Relay *RelayConf `json:"relay,omitempty"`
}

// RelayConf is the relay's part of the egress configuration.
type RelayConf struct {
	Port int    `json:"port"`
	Addr string `json:"addr"`
}

// Options complete a tier's configuration at launch.
type Options struct {
	// HostAddrs are the host's own addresses, denied too.
	HostAddrs []netip.Addr
	// Allow are the --allow-net destinations.
	Allow []launch.Allow
	// Bridge selects the root shape of inet: a veth on claudebox's bridge
	// with an address from host-local (masquerade and the host-side deny
	// are claudebox's own nftables table, see sandbox), instead of the
	// rootless uplink. Resolvers are the DNS servers the sandbox may
	// query, on port 53 only.
	Bridge    bool
	Resolvers []netip.Addr
	// Relay selects the relay's shape of rootless inet (see EgressConf).
	Relay *RelayConf
}

// The root shape's bridge and addresses.
const (
	BridgeName   = "cbbr0"
	BridgeSubnet = "10.89.0.0/24"
	IPAMDir      = "/run/claudebox-ipam" // leases: volatile, outside the per-launch runtime dir
)

type bridgeConf struct {
	Type        string   `json:"type"`
	Bridge      string   `json:"bridge"`
	IsGateway   bool     `json:"isGateway"`
	IPMasq      bool     `json:"ipMasq"`
	HairpinMode bool     `json:"hairpinMode"`
	IPAM        ipamConf `json:"ipam"`
}

type ipamConf struct {
	Type    string                `json:"type"`
	Ranges  [][]map[string]string `json:"ranges"`
	Routes  []map[string]string   `json:"routes"`
	DataDir string                `json:"dataDir"`
}

// DenyList is the inet tier's deny set with the host's own addresses.
func DenyList(hostAddrs []netip.Addr) []string {
	deny := slices.Clone(Deny4)
	for _, a := range hostAddrs {
		deny = append(deny, netip.PrefixFrom(a, a.BitLen()).String())
	}
	return append(deny, Deny6...)
}

type confList struct {
	CNIVersion string `json:"cniVersion"`
	Name       string `json:"name"`
	Plugins    []any  `json:"plugins"`
}

// ConfList renders the CNI configuration list of a tier and checks it with
// libcni. Only inet has one: none is runc's own loopback, full the host's
// network.
func ConfList(t launch.Tier, o Options) ([]byte, error) {
	list := confList{CNIVersion: CNIVersion, Name: "claudebox-" + string(t)}
	switch t {
	case launch.TierInet, launch.TierAllowlist:
		if t == launch.TierAllowlist && o.Relay == nil {
			return nil, fmt.Errorf("the allowlist tier needs the relay")
		}
		egress := EgressConf{
			PluginConf: types.PluginConf{Type: EgressType},
			Deny:       DenyList(o.HostAddrs), Allow: o.Allow, Resolver: UplinkDNS, BlockIPv6: true,
		}
		if o.Relay != nil {
			egress.Resolver, egress.Relay = "", o.Relay
		}
		list.Plugins = []any{egress}
		if o.Bridge {
			egress.Resolver = ""
			for _, r := range o.Resolvers {
				egress.Allow = append(egress.Allow, launch.Allow{Prefix: netip.PrefixFrom(r, r.BitLen()), Port: 53})
			}
			list.Plugins = []any{bridgeConf{
				Type: "bridge", Bridge: BridgeName, IsGateway: true,
				IPAM: ipamConf{
					Type: "host-local", Ranges: [][]map[string]string{{{"subnet": BridgeSubnet}}},
					Routes: []map[string]string{{"dst": "0.0.0.0/0"}}, DataDir: IPAMDir,
				},
			}, egress}
		}
	default:
		return nil, fmt.Errorf("network tier %q has no CNI configuration", t)
	}
	b, err := json.MarshalIndent(list, "", "  ")
	if err != nil {
		return nil, err
	}
	if _, err := libcni.ConfListFromBytes(b); err != nil {
		return nil, fmt.Errorf("generated CNI configuration for %s is invalid: %w", t, err)
	}
	return b, nil
}
