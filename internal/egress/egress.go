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
	"fmt"
	"net/netip"

	"github.com/claudebox/claudebox/netconf"
	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/cni/pkg/version"
	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/google/nftables"
	"github.com/google/nftables/expr"
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
	if err := ns.WithNetNSPath(args.Netns, func(ns.NetNS) error { return install(rules) }); err != nil {
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
	return rules, nil
}

func install(rules []Rule) error {
	conn, err := nftables.New()
	if err != nil {
		return err
	}
	table := conn.AddTable(&nftables.Table{Family: nftables.TableFamilyINet, Name: TableName})
	accept := nftables.ChainPolicyAccept
	chain := conn.AddChain(&nftables.Chain{
		Name: "output", Table: table, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookOutput, Priority: nftables.ChainPriorityFilter, Policy: &accept,
	})
	for _, r := range rules {
		verdict := expr.Any(&expr.Reject{Type: unix.NFT_REJECT_ICMPX_UNREACH, Code: unix.NFT_REJECT_ICMPX_ADMIN_PROHIBITED})
		if r.Accept {
			verdict = &expr.Verdict{Kind: expr.VerdictAccept}
		}
		conn.AddRule(&nftables.Rule{Table: table, Chain: chain, Exprs: append(r.exprs, verdict)})
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
