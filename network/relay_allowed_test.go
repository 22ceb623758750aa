package network

import (
	"net/netip"
	"testing"

	"github.com/claudebox/claudebox/launch"
	"github.com/claudebox/claudebox/netconf"
)

// TestRelayAllowed: the relay's second look at a destination lets through
// a public IPv4 address or an --allow-net entry, and nothing the deny set
// names (private ranges, loopback, the host's own addresses), nor IPv6.
func TestRelayAllowed(t *testing.T) {
	d := &relayDriver{allow: []launch.Allow{
		{Prefix: netip.MustParsePrefix("10.1.2.3/32"), Port: 5432},
		{Prefix: netip.MustParsePrefix("192.168.9.0/24")}, // any port
	}}
	for _, p := range netconf.DenyList([]netip.Addr{netip.MustParseAddr("203.0.113.7"), netip.MustParseAddr("2001:db8::7")}) {
		d.deny = append(d.deny, netip.MustParsePrefix(p))
	}
	for _, c := range []struct {
		dst  string
		want bool
	}{
		{"198.51.100.10:443", true}, // the test world's "internet"
		{"1.1.1.1:53", true},
		{"[::ffff:198.51.100.10]:443", true}, // v4-mapped: judged as v4
		{"10.0.2.2:9", false},
		{"10.0.2.100:80", false}, // the sandbox's own address in the relay's shape
		{"10.9.9.10:80", false},
		{"172.16.0.1:80", false},
		{"192.168.77.10:80", false}, // the test world's LAN
		{"100.100.7.10:80", false},  // Tailscale's range
		{"127.0.0.1:80", false},
		{"127.0.0.53:53", false},
		{"169.254.169.254:80", false}, // cloud metadata
		{"0.0.0.0:80", false},
		{"224.0.0.1:80", false},
		{"255.255.255.255:80", false},
		{"203.0.113.7:22", false}, // the host's own address
		{"[::ffff:10.0.0.1]:80", false},
		{"[::ffff:127.0.0.1]:80", false},
		{"[2606:4700::1111]:443", false}, // public IPv6: the relay is IPv4 only
		{"[::1]:80", false},
		{"[2001:db8::7]:22", false},
		{"10.1.2.3:5432", true}, // --allow-net 10.1.2.3:5432
		{"[::ffff:10.1.2.3]:5432", true},
		{"10.1.2.3:22", false}, // the entry's port only
		{"10.1.2.4:5432", false},
		{"192.168.9.200:8080", true}, // --allow-net 192.168.9.0/24, any port
		{"192.168.10.1:8080", false},
	} {
		if got := d.allowed(netip.MustParseAddrPort(c.dst)); got != c.want {
			t.Errorf("allowed(%s) = %v, want %v", c.dst, got, c.want)
		}
	}
}
