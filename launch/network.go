package launch

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// Tier is a network tier.
type Tier string

// The tiers, from least to most exposed.
const (
	// TierNone: a network namespace of its own with only loopback.
	TierNone Tier = "none"
	// TierInet: the internet, but no private, shared, link-local or host
	// address.
	TierInet Tier = "inet"
	// TierFull: the host's network.
	TierFull Tier = "full"
	// TierAllowlist: only the hosts named (Network.Hosts), by name, on
	// their ports, through claudebox's relay and DNS stub.
	TierAllowlist Tier = "allowlist"
)

// Tiers lists the tiers in order.
var Tiers = []Tier{TierNone, TierAllowlist, TierInet, TierFull}

// Attached reports whether claudebox attaches a network to the tier's own
// network namespace (inet, allowlist); none has only loopback, full the
// host's namespace.
func (t Tier) Attached() bool { return t == TierInet || t == TierAllowlist }

// DefaultTier is used when nothing names one.
const DefaultTier = TierFull

// ParseTier checks a tier name.
func ParseTier(s string) (Tier, error) {
	t := Tier(s)
	if !slices.Contains(Tiers, t) {
		return "", withHint(fmt.Errorf("%w: unknown network tier %q", ErrBadNetwork, s), "use none, allowlist, inet or full")
	}
	return t, nil
}

// Network is a launch's network.
type Network struct {
	Tier Tier `json:"tier"`
	// Source says where the tier came from: "--network",
	// "CLAUDEBOX_NETWORK", or "default".
	Source string `json:"source"`
	// Allow are private destinations let through in the inet tier.
	Allow []Allow `json:"allow,omitempty"`
	// Hosts are the names the allowlist tier lets through, Claude Code's
	// own first.
	Hosts []HostRule `json:"hosts,omitempty"`
}

// HostRule is a name the allowlist tier lets through, on its ports.
type HostRule struct {
	// Pattern is a host name, or *.DOMAIN for any name below DOMAIN.
	Pattern string `json:"pattern"`
	// Ports are the TCP ports allowed: 443 and 80 unless one was given.
	Ports []uint16 `json:"ports"`
	// Why says where the rule came from: "Claude Code", "--allow-host",
	// "profile NAME".
	Why string `json:"why"`
	// Nameless lets a connection that names no host (ssh, or any client
	// that sends neither TLS nor HTTP first) through on Ports, to an
	// address the DNS stub gave out for a name of the rule
	// (PATTERN:PORT/nameless). False: every connection names its host.
	Nameless bool `json:"nameless,omitempty"`
}

func (h HostRule) String() string {
	ports := make([]string, len(h.Ports))
	for i, p := range h.Ports {
		ports[i] = strconv.Itoa(int(p))
	}
	s := h.Pattern + ":" + strings.Join(ports, ",")
	if h.Nameless {
		s += namelessSuffix
	}
	return s
}

// namelessSuffix marks a nameless rule: --allow-host github.com:22/nameless.
const namelessSuffix = "/nameless"

// Matches reports whether name (lower case, no trailing dot) is the rule's.
func (h HostRule) Matches(name string) bool {
	if d, ok := strings.CutPrefix(h.Pattern, "*."); ok {
		return strings.HasSuffix(name, "."+d)
	}
	return name == h.Pattern
}

// ClaudeHosts are the hosts Claude Code itself needs in the allowlist
// tier, read from the client (2.1.332): the API (BASE_API_URL), the
// OAuth token endpoint its refresh posts to (TOKEN_URL) and the login's
// origin (CLAUDE_AI_ORIGIN).
var ClaudeHosts = []string{"api.anthropic.com", "platform.claude.com", "claude.ai"}

// ParseHost reads PATTERN[:PORT][/nameless]: a host name or *.DOMAIN,
// lower case letters, digits and hyphens in dot-separated labels; without
// a port, 443 and 80. /nameless (with a port) lets through connections
// that name no host (ssh) on that port, to the addresses the name
// resolved to.
func ParseHost(s, why string) (HostRule, error) {
	bad := withHint(fmt.Errorf("%w: --allow-host %q", ErrBadNetwork, s),
		"give a host name or *.DOMAIN, with :PORT if not 443 and 80, and /nameless after the port for a protocol that names no host (ssh), e.g. --allow-host github.com, --allow-host '*.npmjs.org' or --allow-host github.com:22/nameless")
	rest, nameless := strings.CutSuffix(s, namelessSuffix)
	name, port, hasPort := strings.Cut(strings.ToLower(strings.TrimSuffix(rest, ".")), ":")
	h := HostRule{Pattern: name, Ports: []uint16{443, 80}, Why: why, Nameless: nameless}
	if nameless && !hasPort {
		return h, bad
	}
	if hasPort {
		n, err := strconv.ParseUint(port, 10, 16)
		if err != nil || n == 0 {
			return h, bad
		}
		h.Ports = []uint16{uint16(n)}
	}
	labels := strings.Split(strings.TrimPrefix(name, "*."), ".")
	if len(name) > 253 || len(labels) < 2 {
		return h, bad
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' || strings.Trim(l, "abcdefghijklmnopqrstuvwxyz0123456789-") != "" {
			return h, bad
		}
	}
	if _, err := netip.ParseAddr(name); err == nil {
		return h, bad // an address is no name
	}
	return h, nil
}

// Allow is a destination let through the inet tier's deny rules.
type Allow struct {
	// Prefix is an address or CIDR.
	Prefix netip.Prefix `json:"prefix"`
	// Port is a TCP and UDP port; 0 means every port.
	Port uint16 `json:"port,omitempty"`
}

func (a Allow) String() string {
	s := a.Prefix.String()
	if a.Prefix.IsSingleIP() {
		s = a.Prefix.Addr().String()
		if a.Port != 0 && a.Prefix.Addr().Is6() {
			s = "[" + s + "]"
		}
	}
	if a.Port != 0 {
		s += ":" + strconv.Itoa(int(a.Port))
	}
	return s
}

// ParseAllow reads ADDR, CIDR, ADDR:PORT, CIDR:PORT or [V6ADDR]:PORT.
func ParseAllow(s string) (Allow, error) {
	bad := withHint(fmt.Errorf("%w: --allow-net %q", ErrBadNetwork, s),
		"give ADDR, CIDR, ADDR:PORT or CIDR:PORT, e.g. --allow-net 192.168.1.10:5432")
	host, port := s, ""
	if ap, err := netip.ParseAddrPort(s); err == nil {
		host, port = ap.Addr().String(), strconv.Itoa(int(ap.Port()))
	} else if i := strings.LastIndex(s, ":"); i > 0 && strings.Contains(s[:i], "/") && !strings.Contains(s[i:], "/") {
		host, port = s[:i], s[i+1:]
	}
	var a Allow
	if p, err := netip.ParsePrefix(host); err == nil {
		a.Prefix = p.Masked()
	} else if addr, err := netip.ParseAddr(host); err == nil {
		a.Prefix = netip.PrefixFrom(addr, addr.BitLen())
	} else {
		return a, bad
	}
	if port != "" {
		n, err := strconv.ParseUint(port, 10, 16)
		if err != nil || n == 0 {
			return a, bad
		}
		a.Port = uint16(n)
	}
	return a, nil
}

// resolveNetwork applies the precedence: the flag, then CLAUDEBOX_NETWORK,
// then the profile, then the default; hosts are --allow-host's and the
// profile's.
func resolveNetwork(flag string, environ []string, p *Profile, allow, hosts []string) (Network, error) {
	n := Network{Tier: DefaultTier, Source: "default"}
	if p.Network != "" {
		n = Network{Tier: p.Network, Source: "profile " + p.Name}
	}
	switch env := envValue(environ, "CLAUDEBOX_NETWORK"); {
	case flag != "":
		n.Source = "--network"
		t, err := ParseTier(flag)
		if err != nil {
			return n, err
		}
		n.Tier = t
	case env != "":
		n.Source = "CLAUDEBOX_NETWORK"
		t, err := ParseTier(env)
		if err != nil {
			return n, withHint(fmt.Errorf("CLAUDEBOX_NETWORK: %w", err), "set it to none, allowlist, inet or full")
		}
		n.Tier = t
	}
	for _, s := range allow {
		a, err := ParseAllow(s)
		if err != nil {
			return n, err
		}
		n.Allow = append(n.Allow, a)
	}
	if len(n.Allow) > 0 && !n.Tier.Attached() {
		return n, withHint(fmt.Errorf("%w: --allow-net needs the inet tier (or allowlist), not %s", ErrBadNetwork, n.Tier),
			"add --network inet or allowlist (none allows nothing; full allows everything)")
	}
	if len(hosts) > 0 && n.Tier != TierAllowlist {
		return n, withHint(fmt.Errorf("%w: --allow-host needs the allowlist tier, not %s", ErrBadNetwork, n.Tier),
			"add --network allowlist")
	}
	if n.Tier == TierAllowlist {
		for _, h := range ClaudeHosts {
			r, _ := ParseHost(h, "Claude Code")
			n.Hosts = append(n.Hosts, r)
		}
		for i, s := range hosts {
			why := "--allow-host"
			if i < len(p.AllowHosts) {
				why = "profile " + p.Name
			}
			r, err := ParseHost(s, why)
			if err != nil {
				return n, err
			}
			n.Hosts = append(n.Hosts, r)
		}
	}
	return n, nil
}
