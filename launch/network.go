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
)

// Tiers lists the tiers in order.
var Tiers = []Tier{TierNone, TierInet, TierFull}

// DefaultTier is used when nothing names one.
const DefaultTier = TierFull

// ParseTier checks a tier name.
func ParseTier(s string) (Tier, error) {
	t := Tier(s)
	if !slices.Contains(Tiers, t) {
		return "", withHint(fmt.Errorf("%w: unknown network tier %q", ErrBadNetwork, s), "use none, inet or full")
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
// then the profile, then the default.
func resolveNetwork(flag string, environ []string, p *Profile, allow []string) (Network, error) {
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
			return n, withHint(fmt.Errorf("CLAUDEBOX_NETWORK: %w", err), "set it to none, inet or full")
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
	if len(n.Allow) > 0 && n.Tier != TierInet {
		return n, withHint(fmt.Errorf("%w: --allow-net needs the inet tier, not %s", ErrBadNetwork, n.Tier),
			"add --network inet (none allows nothing; full allows everything)")
	}
	return n, nil
}
