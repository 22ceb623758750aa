package egress

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/claudebox/claudebox/launch"
	"github.com/claudebox/claudebox/netconf"
)

func TestRulesOrder(t *testing.T) {
	rules, err := Rules(&netconf.EgressConf{
		Deny:      []string{"10.0.0.0/8", "fc00::/7"},
		Allow:     []launch.Allow{{Prefix: netip.MustParsePrefix("10.1.2.3/32"), Port: 5432}, {Prefix: netip.MustParsePrefix("10.9.0.0/16")}},
		Resolver:  "10.0.2.3",
		BlockIPv6: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		match  string
		accept bool
	}{
		{"oif lo", true},
		{"tcp dport 5432 daddr 10.1.2.3/32", true},
		{"udp dport 5432 daddr 10.1.2.3/32", true},
		{"daddr 10.9.0.0/16", true},
		{"tcp dport 53 daddr 10.0.2.3/32", true},
		{"udp dport 53 daddr 10.0.2.3/32", true},
		{"daddr 10.0.0.0/8", false},
		{"daddr fc00::/7", false},
		{"ip6", false},
	}
	if len(rules) != len(want) {
		t.Fatalf("%d rules, want %d: %+v", len(rules), len(want), rules)
	}
	for i, w := range want {
		if rules[i].Match != w.match || rules[i].Accept != w.accept {
			t.Errorf("rule %d: %q accept=%v, want %q accept=%v", i, rules[i].Match, rules[i].Accept, w.match, w.accept)
		}
		if len(rules[i].exprs) == 0 {
			t.Errorf("rule %d has no expressions", i)
		}
	}
	if _, err := Rules(&netconf.EgressConf{Deny: []string{"nonsense"}}); err == nil {
		t.Error("a bad prefix was accepted")
	}
}

// In the relay's shape everything leaves through lo: the sandbox's own
// addresses are accepted first, the deny set still rejects, and what is
// not TCP (which the relay carries) is rejected last.
func TestRulesRelay(t *testing.T) {
	rules, err := Rules(&netconf.EgressConf{
		Deny:      []string{"10.0.0.0/8"},
		BlockIPv6: true,
		Relay:     &netconf.RelayConf{Port: 4242, Addr: "10.0.2.100"},
	})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rules {
		got = append(got, fmt.Sprintf("%s accept=%v", r.Match, r.Accept))
	}
	want := []string{"daddr 127.0.0.0/8 accept=true", "daddr ::1/128 accept=true", "daddr 10.0.2.100/32 accept=true", "daddr 10.0.0.0/8 accept=false", "ip6 accept=false", "not tcp accept=false"}
	if strings.Join(got, "; ") != strings.Join(want, "; ") {
		t.Errorf("rules\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if _, err := Rules(&netconf.EgressConf{Relay: &netconf.RelayConf{Addr: "nonsense"}}); err == nil {
		t.Error("a bad relay address was accepted")
	}
}
