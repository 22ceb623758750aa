package launch

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// ErrBadPublish: a --publish spec (or a profile's publish entry) is wrong.
var ErrBadPublish = errors.New("bad --publish")

// Publish is a sandbox port reachable from the host (--publish): the
// launcher listens on the host and passes each connection to the port in
// the sandbox's network namespace.
type Publish struct {
	// Addr is the host address listened on; the zero Addr means the host's
	// loopback, 127.0.0.1 and ::1 both, so that http://localhost:PORT works
	// whichever one a browser picks.
	Addr netip.Addr `json:"addr,omitzero"`
	// HostPort is the port on the host, SandboxPort the one in the sandbox
	// (HostPort unless given).
	HostPort    uint16 `json:"hostPort"`
	SandboxPort uint16 `json:"sandboxPort"`
}

// Exposed reports whether the publish listens beyond the host's loopback:
// other machines (the LAN) can reach the sandbox's server.
func (p Publish) Exposed() bool { return p.Addr.IsValid() && !p.Addr.IsLoopback() }

// URL is where the host's browser finds the server: localhost for the
// loopback default (and for an unspecified address, which loopback
// reaches too), else the address.
func (p Publish) URL() string {
	host := "localhost"
	if p.Addr.IsValid() && !p.Addr.IsUnspecified() {
		host = p.Addr.String()
		if p.Addr.Is6() {
			host = "[" + host + "]"
		}
	}
	return "http://" + host + ":" + strconv.Itoa(int(p.HostPort))
}

// String is the spec the publish reads back from (ParsePublish).
func (p Publish) String() string {
	s := strconv.Itoa(int(p.HostPort))
	if p.SandboxPort != p.HostPort {
		s += ":" + strconv.Itoa(int(p.SandboxPort))
	}
	switch {
	case !p.Addr.IsValid():
	case p.Addr.Is6():
		s = "[" + p.Addr.String() + "]:" + s
	default:
		s = p.Addr.String() + ":" + s
	}
	return s
}

// Addrs are the host addresses the publish listens on.
func (p Publish) Addrs() []netip.Addr {
	if p.Addr.IsValid() {
		return []netip.Addr{p.Addr}
	}
	return []netip.Addr{netip.AddrFrom4([4]byte{127, 0, 0, 1}), netip.IPv6Loopback()}
}

const publishUsage = "give [HOST_ADDR:]HOST_PORT[:SANDBOX_PORT], e.g. --publish 5173 (http://localhost:5173), --publish 8080:80, " +
	"--publish 192.168.1.5:8080 (reachable from the LAN) or --publish '[::1]:8080'; claude's own -p goes after --: claudebox -- -p PROMPT"

// ParsePublish reads [HOST_ADDR:]HOST_PORT[:SANDBOX_PORT]. HOST_ADDR is an
// IP address (IPv6 in brackets) or localhost; without it the publish
// listens on the host's loopback only. Ports are decimal, 1 to 65535.
func ParsePublish(s string) (Publish, error) {
	bad := func(why string) error {
		return withHint(fmt.Errorf("%w %q: %s", ErrBadPublish, s, why), publishUsage)
	}
	var p Publish
	rest := s
	switch {
	case strings.HasPrefix(rest, "["):
		end := strings.Index(rest, "]")
		if end < 0 {
			return p, bad("no ] closes the IPv6 address")
		}
		a, err := netip.ParseAddr(rest[1:end])
		if err != nil || !a.Is6() || a.Zone() != "" {
			return p, bad(fmt.Sprintf("%q is not an IPv6 address", rest[1:end]))
		}
		p.Addr = a.Unmap()
		if !strings.HasPrefix(rest[end+1:], ":") {
			return p, bad("a port must follow the address, after a colon")
		}
		rest = rest[end+2:]
	case strings.Count(rest, ":") > 2:
		return p, bad("too many colons (an IPv6 address goes in brackets)")
	default:
		head, tail, ok := strings.Cut(rest, ":")
		if !ok || isDigits(head) {
			break
		}
		switch {
		case head == "":
			// Docker reads ":8080" as every interface: too easy to type
			// for what it exposes.
			return p, withHint(fmt.Errorf("%w %q: no host address before the colon", ErrBadPublish, s),
				"publish on the host's loopback with --publish "+tail+"; to expose the server to the LAN, name the address: --publish 0.0.0.0:"+tail)
		case head == "localhost":
		default:
			a, err := netip.ParseAddr(head)
			if err != nil || !a.Is4() {
				return p, bad(fmt.Sprintf("%q is not an IPv4 address (a host address is an IP address or localhost; IPv6 goes in brackets)", head))
			}
			p.Addr = a
		}
		rest = tail
	}
	host, sandbox, two := strings.Cut(rest, ":")
	if strings.Contains(sandbox, ":") {
		return p, bad("too many colons (an IPv6 address goes in brackets)")
	}
	var err error
	if p.HostPort, err = parsePort(host); err != nil {
		return p, bad("host port: " + err.Error())
	}
	p.SandboxPort = p.HostPort
	if two {
		if p.SandboxPort, err = parsePort(sandbox); err != nil {
			return p, bad("sandbox port: " + err.Error())
		}
	}
	return p, nil
}

func isDigits(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}

// parsePort reads a decimal port, 1 to 65535, without sign or leading
// zero.
func parsePort(s string) (uint16, error) {
	if !isDigits(s) {
		return 0, fmt.Errorf("%q is not a port number", s)
	}
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil || n == 0 || s[0] == '0' {
		return 0, fmt.Errorf("%q is not a port from 1 to 65535", s)
	}
	return uint16(n), nil
}

// resolvePublish reads the profile's publish entries, then --publish's;
// no host address and port may be published twice.
func resolvePublish(specs []string) ([]Publish, error) {
	var out []Publish
	for _, s := range specs {
		p, err := ParsePublish(s)
		if err != nil {
			return nil, err
		}
		for _, q := range out {
			if q.HostPort == p.HostPort && overlaps(q.Addrs(), p.Addrs()) {
				return nil, withHint(fmt.Errorf("%w: host port %d is published twice (%s and %s)", ErrBadPublish, p.HostPort, q, p),
					"publish each host port once (a profile's publish entries count too)")
			}
		}
		out = append(out, p)
	}
	return out, nil
}

// overlaps: a listener on one of a would take a port one of b needs (an
// unspecified address takes it on every address of its family).
func overlaps(a, b []netip.Addr) bool {
	for _, x := range a {
		if slices.ContainsFunc(b, func(y netip.Addr) bool {
			return x == y || x.Is4() == y.Is4() && (x.IsUnspecified() || y.IsUnspecified())
		}) {
			return true
		}
	}
	return false
}
