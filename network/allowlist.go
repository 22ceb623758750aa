package network

import (
	"context"
	"fmt"
	"net/netip"
	"slices"

	"github.com/claudebox/claudebox/launch"
)

// The allowlist tier is the relay with a list of names (launch.HostRule).
// Its DNS stub (stub) answers only names on the list, resolving them from
// outside, and answers every other name NXDOMAIN without sending the
// query anywhere, so a query cannot carry data out. A TCP connection goes
// through only to a listed name on one of its ports, and the name is
// required wherever a protocol carries one: whenever the client sends a
// TLS ClientHello or an HTTP request first, its SNI or Host is the name
// (read whole, checked by hostName), and the relay connects to an address
// that name resolves to, not to the address the client dialled, so a
// shared CDN address or a forged SNI reaches no other name. Plaintext
// HTTP is checked request by request (guardHTTP). A client that sends
// neither (ssh) goes through only on a port that a rule names as nameless
// (PATTERN:PORT/nameless), to an address the stub answered for that
// rule's names. An --allow-net address is let through as an address.
// Every decision is logged.

// allowlist is the relay's list, and what its stub answered.
type allowlist struct {
	hosts    []launch.HostRule
	answered *answeredTable
	log      *netLog
}

func newAllowlist(hosts []launch.HostRule, log *netLog) *allowlist {
	return &allowlist{hosts: hosts, answered: newAnsweredTable(), log: log}
}

// listed reports whether a rule names name (on any port).
func (l *allowlist) listed(name string) bool {
	return slices.ContainsFunc(l.hosts, func(h launch.HostRule) bool { return h.Matches(name) })
}

// allows reports whether name is listed with port (by any of its rules).
func (l *allowlist) allows(name string, port uint16) bool {
	return slices.ContainsFunc(l.hosts, func(h launch.HostRule) bool { return h.Matches(name) && slices.Contains(h.Ports, port) })
}

// namelessFor is the name for which a connection to dst may go through
// without naming its host: a rule's, whose nameless ports hold dst's
// port, and for which the stub gave out dst's address (unexpired).
func (l *allowlist) namelessFor(dst netip.AddrPort) (string, bool) {
	var rules []launch.HostRule
	for _, h := range l.hosts {
		if h.Nameless && slices.Contains(h.Ports, dst.Port()) {
			rules = append(rules, h)
		}
	}
	if len(rules) == 0 {
		return "", false
	}
	for _, n := range l.answered.names(dst.Addr()) {
		if slices.ContainsFunc(rules, func(h launch.HostRule) bool { return h.Matches(n) }) {
			return n, true
		}
	}
	return "", false
}

// verdict is decide's: where to connect, or why not.
type verdict struct {
	to     netip.AddrPort
	name   string // the host name, as checked, or as sent when refused
	reason string // why the connection is refused; "" to let it through
	byNet  bool   // let through as an --allow-net address
}

// resolver is how decide resolves a listed name: lookupA, in the relay.
type resolver func(ctx context.Context, name string) ([]netip.Addr, error)

// decide judges a connection of the allowlist tier to dst whose client
// sent f first. may says whether the relay may connect to an address (the
// deny set's second look), byNet whether an address is an --allow-net
// one. The relay connects only to: dst when byNet says so; an address a
// listed name resolved to (the stub's answer for it, else a lookup of
// its own), on a port listed for it, when the client named it; dst when
// a nameless rule takes it (namelessFor).
func (l *allowlist) decide(ctx context.Context, dst netip.AddrPort, f first, resolve resolver, may, byNet func(netip.AddrPort) bool) verdict {
	port := dst.Port()
	v := verdict{name: f.name}
	switch {
	case byNet(dst):
		v.to, v.byNet = dst, true
		return v
	case f.reason != "":
		v.reason = f.reason
		return v
	case f.kind == tlsHello || f.kind == httpRequest:
		if !l.allows(f.name, port) {
			v.reason = "not on the list"
			if l.listed(f.name) {
				v.reason = fmt.Sprintf("not on the list with port %d", port)
			}
			return v
		}
		if slices.Contains(l.answered.names(dst.Addr()), f.name) && may(dst) {
			// The stub gave dst's address out for the name (unexpired):
			// where the client was going, with no second lookup.
			v.to = dst
			return v
		}
		addrs, err := resolve(ctx, f.name)
		if err != nil || len(addrs) == 0 {
			v.reason = "does not resolve"
			if err != nil {
				v.reason += ": " + err.Error()
			}
			return v
		}
		if slices.Contains(addrs, dst.Addr()) && may(dst) {
			v.to = dst // where the client was going, if the name goes there too
			return v
		}
		for _, a := range addrs {
			if to := netip.AddrPortFrom(a, port); may(to) {
				v.to = to
				return v
			}
		}
		v.reason = "resolves only to denied addresses"
		return v
	}
	if n, ok := l.namelessFor(dst); ok && may(dst) {
		v.to, v.name = dst, n
		return v
	}
	if f.kind == silent {
		v.reason = fmt.Sprintf("sent nothing within %v, and port %d is no nameless port of a name the stub gave this address for", nameWait, port)
	} else {
		v.reason = fmt.Sprintf("sent neither TLS nor HTTP, so named no host, and port %d is no nameless port of a name the stub gave this address for", port)
	}
	return v
}
