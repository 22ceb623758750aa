// Package egress is claudebox's own CNI plugin, claudebox-egress: it
// installs the inet tier's deny rules in the sandbox's network namespace,
// as an nftables table of its own ("claudebox", family inet), through
// netlink (no nft binary, no PATH). The CNI firewall plugin cannot do this:
// it only adds ACCEPT rules.
//
// The claudebox binary serves it when invoked as claudebox-egress. The
// same rules, on the host's side of root's bridge (InstallHost), live here
// too: this package owns the deny policy as nftables rules; package network
// decides when they are installed.
package egress

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"

	"github.com/claudebox/claudebox/netconf"
	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/cni/pkg/version"
	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// TableName is the nftables table the plugin owns.
const TableName = "claudebox"

// Main runs the plugin (CNI_COMMAND and friends come from the environment).
func Main() {
	skel.PluginMainFuncs(skel.CNIFuncs{Add: add, Del: del, Check: check},
		version.All, "claudebox-egress: the inet tier's deny rules")
}

func parse(stdin []byte) (*netconf.EgressConf, error) {
	var c netconf.EgressConf
	if err := json.Unmarshal(stdin, &c); err != nil {
		return nil, fmt.Errorf("claudebox-egress: bad configuration: %w", err)
	}
	if err := version.ParsePrevResult(&c.PluginConf); err != nil {
		return nil, err
	}
	return &c, nil
}

func add(args *skel.CmdArgs) error {
	c, err := parse(args.StdinData)
	if err != nil {
		return err
	}
	rules, err := Rules(c)
	if err != nil {
		return err
	}
	if err := ns.WithNetNSPath(args.Netns, func(ns.NetNS) error {
		if c.Relay != nil {
			if err := relayRoute(c.Relay); err != nil {
				return err
			}
		}
		return install(rules, c.Relay)
	}); err != nil {
		return fmt.Errorf("claudebox-egress: installing the deny rules: %w", err)
	}
	result := c.PrevResult
	if result == nil {
		result = &current.Result{CNIVersion: c.CNIVersion}
	}
	return types.PrintResult(result, c.CNIVersion)
}

func del(args *skel.CmdArgs) error {
	if args.Netns == "" {
		return nil
	}
	return ns.WithNetNSPath(args.Netns, func(ns.NetNS) error {
		conn, err := nftables.New()
		if err != nil {
			return err
		}
		conn.DelTable(&nftables.Table{Family: nftables.TableFamilyINet, Name: TableName})
		_ = conn.Flush() // already gone is fine
		return nil
	})
}

func check(args *skel.CmdArgs) error {
	return ns.WithNetNSPath(args.Netns, func(ns.NetNS) error {
		conn, err := nftables.New()
		if err != nil {
			return err
		}
		if _, err := conn.ListTableOfFamily(TableName, nftables.TableFamilyINet); err != nil {
			return fmt.Errorf("claudebox-egress: table %s missing: %w", TableName, err)
		}
		return nil
	})
}

// Rule is one rule of the output chain, in order.
type Rule struct {
	// Match is what the rule compares, for people: "oif lo", "ip daddr
	// 10.0.0.0/8", "udp dport 53 ip daddr 10.0.2.3".
	Match  string
	Accept bool // else reject
	exprs  []expr.Any
}

// Rules computes the output chain: loopback and the allowed destinations
// (and the uplink's DNS) are accepted, then the denied ones rejected, so a
// connection to them fails at once instead of hanging.
func Rules(c *netconf.EgressConf) ([]Rule, error) {
	rules := []Rule{{Match: "oif lo", Accept: true, exprs: oifLo()}}
	if c.Relay != nil {
		// Everything leaves through lo in the relay's shape: what is the
		// sandbox's own is its loopback addresses (::1 too: a server on
		// it, and --publish's connections to it) and its own address
		// (where the relay's replies go).
		addr, err := netip.ParseAddr(c.Relay.Addr)
		if err != nil {
			return nil, fmt.Errorf("claudebox-egress: relay address %q: %w", c.Relay.Addr, err)
		}
		rules = nil
		for _, own := range []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128"), netip.PrefixFrom(addr, 32)} {
			rules = append(rules, Rule{Match: "daddr " + own.String(), Accept: true, exprs: daddr(own)})
		}
	}
	for _, a := range c.Allow {
		rules = append(rules, allowRules(a.Prefix, a.Port)...)
	}
	if c.Resolver != "" {
		dns, err := netip.ParseAddr(c.Resolver)
		if err != nil {
			return nil, fmt.Errorf("claudebox-egress: resolver %q: %w", c.Resolver, err)
		}
		rules = append(rules, allowRules(netip.PrefixFrom(dns, dns.BitLen()), 53)...)
	}
	for _, d := range c.Deny {
		p, err := netip.ParsePrefix(d)
		if err != nil {
			return nil, fmt.Errorf("claudebox-egress: deny %q: %w", d, err)
		}
		rules = append(rules, Rule{Match: "daddr " + p.String(), exprs: daddr(p.Masked())})
	}
	if c.BlockIPv6 {
		rules = append(rules, Rule{Match: "ip6", exprs: nfproto(unix.NFPROTO_IPV6)})
	}
	if c.Relay != nil {
		// The relay carries TCP; the rest would go nowhere, slowly.
		rules = append(rules, Rule{Match: "not tcp", exprs: []expr.Any{
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: []byte{unix.IPPROTO_TCP}},
		}})
	}
	return rules, nil
}

// install adds the table: the output chain's rules, and with relay the
// redirect of outbound TCP to the relay's listener. The rules come before
// NAT (priority mangle), so they judge where a connection was going, not
// the relay it is redirected to.
func install(rules []Rule, relay *netconf.RelayConf) error {
	conn, err := nftables.New()
	if err != nil {
		return err
	}
	table := conn.AddTable(&nftables.Table{Family: nftables.TableFamilyINet, Name: TableName})
	accept := nftables.ChainPolicyAccept
	chain := conn.AddChain(&nftables.Chain{
		Name: "output", Table: table, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookOutput, Priority: nftables.ChainPriorityMangle, Policy: &accept,
	})
	if relay != nil {
		nat := conn.AddChain(&nftables.Chain{
			Name: "relay", Table: table, Type: nftables.ChainTypeNAT,
			Hooknum: nftables.ChainHookOutput, Priority: nftables.ChainPriorityNATDest, Policy: &accept,
		})
		own := netip.MustParsePrefix("127.0.0.0/8")
		notOwn := daddr(own)
		notOwn[len(notOwn)-1].(*expr.Cmp).Op = expr.CmpOpNeq
		conn.AddRule(&nftables.Rule{Table: table, Chain: nat, Exprs: append(notOwn,
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_TCP}},
			&expr.Immediate{Register: 1, Data: []byte{byte(relay.Port >> 8), byte(relay.Port)}},
			&expr.Redir{RegisterProtoMin: 1},
		)})
	}
	reject := expr.Any(&expr.Reject{Type: unix.NFT_REJECT_ICMPX_UNREACH, Code: unix.NFT_REJECT_ICMPX_ADMIN_PROHIBITED})
	for _, r := range rules {
		if r.Accept {
			conn.AddRule(&nftables.Rule{Table: table, Chain: chain, Exprs: append(slices.Clone(r.exprs), &expr.Verdict{Kind: expr.VerdictAccept})})
			continue
		}
		if relay != nil {
			// Routed through lo, an ICMP error never reaches the sender:
			// TCP is refused with a reset instead, at once.
			conn.AddRule(&nftables.Rule{Table: table, Chain: chain, Exprs: append(slices.Clone(r.exprs),
				&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
				&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_TCP}},
				&expr.Reject{Type: unix.NFT_REJECT_TCP_RST})})
		}
		conn.AddRule(&nftables.Rule{Table: table, Chain: chain, Exprs: append(slices.Clone(r.exprs), reject)})
	}
	return conn.Flush()
}

func oifLo() []expr.Any {
	name := make([]byte, unix.IFNAMSIZ)
	copy(name, "lo")
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyOIFNAME, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: name},
	}
}

func nfproto(proto byte) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{proto}},
	}
}

// daddr matches destinations in p.
func daddr(p netip.Prefix) []expr.Any {
	proto, offset, size := byte(unix.NFPROTO_IPV4), uint32(16), uint32(4)
	if p.Addr().Is6() {
		proto, offset, size = unix.NFPROTO_IPV6, 24, 16
	}
	mask := make([]byte, size)
	for i := range p.Bits() {
		mask[i/8] |= 0x80 >> (i % 8)
	}
	return append(nfproto(proto),
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: offset, Len: size},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: size, Mask: mask, Xor: make([]byte, size)},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: p.Addr().AsSlice()},
	)
}

// allowRules accepts destinations in p, on port (TCP and UDP) when not 0.
func allowRules(p netip.Prefix, port uint16) []Rule {
	match := "daddr " + p.String()
	if port == 0 {
		return []Rule{{Match: match, Accept: true, exprs: daddr(p)}}
	}
	var rules []Rule
	for _, l4 := range []struct {
		name  string
		proto byte
	}{{"tcp", unix.IPPROTO_TCP}, {"udp", unix.IPPROTO_UDP}} {
		e := append(daddr(p),
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{l4.proto}},
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{byte(port >> 8), byte(port)}},
		)
		rules = append(rules, Rule{Match: fmt.Sprintf("%s dport %d %s", l4.name, port, match), Accept: true, exprs: e})
	}
	return rules
}

// relayRoute gives the namespace its address on lo and the default route
// through lo, so that connect() finds a route and the redirect can act.
func relayRoute(r *netconf.RelayConf) error {
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		return err
	}
	ip := net.ParseIP(r.Addr)
	if ip == nil {
		return fmt.Errorf("relay address %q", r.Addr)
	}
	if err := netlink.AddrReplace(lo, &netlink.Addr{IPNet: &net.IPNet{IP: ip, Mask: net.CIDRMask(32, 32)}}); err != nil {
		return fmt.Errorf("the relay's address: %w", err)
	}
	anywhere := &net.IPNet{IP: net.IPv4zero, Mask: net.CIDRMask(0, 32)}
	if err := netlink.RouteReplace(&netlink.Route{LinkIndex: lo.Attrs().Index, Scope: netlink.SCOPE_LINK, Src: ip, Dst: anywhere}); err != nil {
		return fmt.Errorf("the relay's route: %w", err)
	}
	// The relay carries TCP. UDP and ICMP to anywhere but the sandbox's
	// own addresses (the local table, looked up first: the DNS stub) find
	// no route: sendto fails at once, where an ICMP error routed through
	// lo would never arrive.
	if err := netlink.RouteReplace(&netlink.Route{Type: unix.RTN_UNREACHABLE, Table: relayTable, Dst: anywhere}); err != nil {
		return fmt.Errorf("the relay's unreachable route: %w", err)
	}
	for _, proto := range []int{unix.IPPROTO_UDP, unix.IPPROTO_ICMP} {
		r := netlink.NewRule()
		r.Family, r.IPProto, r.Table, r.Priority = unix.AF_INET, proto, relayTable, 1000
		if err := netlink.RuleAdd(r); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("the relay's routing rule: %w", err)
		}
	}
	return nil
}

// relayTable is the routing table of what the relay does not carry.
const relayTable = 4242
