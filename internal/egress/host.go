package egress

import (
	"fmt"
	"net/netip"
	"os"

	"github.com/claudebox/claudebox/launch"
	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// HostTable is the nftables table claudebox owns in the host's network
// namespace for root launches of the inet tier.
const HostTable = "claudebox-host"

// InstallHost sets up the host side of the root inet shape, replacing the
// table atomically: traffic from the bridge to a denied destination is
// rejected (forward), the host's own services are not reachable from it
// (input), and what leaves is masqueraded. It also turns IPv4 forwarding
// on, which the bridge needs.
func InstallHost(bridge string, subnet netip.Prefix, deny []string, allow []launch.Allow) error {
	if err := os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1"), 0o644); err != nil {
		return fmt.Errorf("enabling IPv4 forwarding: %w", err)
	}
	conn, err := nftables.New()
	if err != nil {
		return err
	}
	table := conn.AddTable(&nftables.Table{Family: nftables.TableFamilyINet, Name: HostTable})
	conn.FlushTable(table)
	accept := nftables.ChainPolicyAccept
	chain := func(name string, typ nftables.ChainType, hook *nftables.ChainHook, prio *nftables.ChainPriority) *nftables.Chain {
		return conn.AddChain(&nftables.Chain{Name: name, Table: table, Type: typ, Hooknum: hook, Priority: prio, Policy: &accept})
	}
	forward := chain("forward", nftables.ChainTypeFilter, nftables.ChainHookForward, nftables.ChainPriorityFilter)
	input := chain("input", nftables.ChainTypeFilter, nftables.ChainHookInput, nftables.ChainPriorityFilter)
	post := chain("postrouting", nftables.ChainTypeNAT, nftables.ChainHookPostrouting, nftables.ChainPriorityNATSource)

	from := ifname(unix.NFT_META_IIFNAME, bridge, expr.CmpOpEq)
	reject := &expr.Reject{Type: unix.NFT_REJECT_ICMPX_UNREACH, Code: unix.NFT_REJECT_ICMPX_ADMIN_PROHIBITED}
	add := func(c *nftables.Chain, exprs ...expr.Any) {
		conn.AddRule(&nftables.Rule{Table: table, Chain: c, Exprs: exprs})
	}
	// Replies to what the sandbox opened come back through forward.
	add(forward, append(ifname(unix.NFT_META_OIFNAME, bridge, expr.CmpOpEq),
		&expr.Ct{Register: 1, Key: expr.CtKeySTATE},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
			Mask: binaryState(expr.CtStateBitESTABLISHED | expr.CtStateBitRELATED), Xor: []byte{0, 0, 0, 0}},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: []byte{0, 0, 0, 0}},
		&expr.Verdict{Kind: expr.VerdictAccept})...)
	for _, a := range allow {
		for _, r := range allowRules(a.Prefix, a.Port) {
			add(forward, append(append(append([]expr.Any{}, from...), r.exprs...), &expr.Verdict{Kind: expr.VerdictAccept})...)
		}
	}
	for _, d := range deny {
		p, err := netip.ParsePrefix(d)
		if err != nil {
			return err
		}
		add(forward, append(append(append([]expr.Any{}, from...), daddr(p.Masked())...), reject)...)
	}
	add(forward, append(append(append([]expr.Any{}, from...), nfproto(unix.NFPROTO_IPV6)...), reject)...)
	add(input, append(append([]expr.Any{}, from...), reject)...)
	add(post, append(append(saddr(subnet), ifname(unix.NFT_META_OIFNAME, bridge, expr.CmpOpNeq)...), &expr.Masq{})...)
	return conn.Flush()
}

func ifname(key uint32, name string, op expr.CmpOp) []expr.Any {
	b := make([]byte, unix.IFNAMSIZ)
	copy(b, name)
	return []expr.Any{&expr.Meta{Key: expr.MetaKey(key), Register: 1}, &expr.Cmp{Op: op, Register: 1, Data: b}}
}

func saddr(p netip.Prefix) []expr.Any {
	e := daddr(p)
	// The same match on the source address: offset 12 instead of 16.
	e[2].(*expr.Payload).Offset = 12
	return e
}

func binaryState(bits uint32) []byte {
	return []byte{byte(bits), byte(bits >> 8), byte(bits >> 16), byte(bits >> 24)}
}
