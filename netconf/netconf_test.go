package netconf

import (
	"bytes"
	"encoding/json"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/claudebox/claudebox/launch"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func TestGolden(t *testing.T) {
	allow, err := launch.ParseAllow("192.168.1.10:5432")
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{HostAddrs: []netip.Addr{netip.MustParseAddr("203.0.113.7")}, Allow: []launch.Allow{allow}}
	for _, tier := range []launch.Tier{launch.TierInet} {
		t.Run(string(tier), func(t *testing.T) {
			got, err := ConfList(tier, opts)
			if err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", string(tier)+".conflist")
			if *update {
				os.WriteFile(golden, got, 0o644)
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./netconf -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs (run go test ./netconf -update and review):\n%s", golden, got)
			}
		})
	}
	t.Run("inet-bridge", func(t *testing.T) {
		o := opts
		o.Bridge, o.Resolvers = true, []netip.Addr{netip.MustParseAddr("192.168.1.1")}
		got, err := ConfList(launch.TierInet, o)
		if err != nil {
			t.Fatal(err)
		}
		golden := filepath.Join("testdata", "inet-bridge.conflist")
		if *update {
			os.WriteFile(golden, got, 0o644)
		}
		if want, _ := os.ReadFile(golden); !bytes.Equal(got, want) {
			t.Errorf("%s differs (run go test ./netconf -update and review):\n%s", golden, got)
		}
	})
	for _, tier := range []launch.Tier{launch.TierNone, launch.TierFull} {
		if _, err := ConfList(tier, opts); err == nil {
			t.Errorf("the %s tier has no CNI configuration", tier)
		}
	}
}

func TestInetDeniesWhatItMust(t *testing.T) {
	b, err := ConfList(launch.TierInet, Options{HostAddrs: []netip.Addr{netip.MustParseAddr("203.0.113.7")}})
	if err != nil {
		t.Fatal(err)
	}
	var list struct{ Plugins []json.RawMessage }
	json.Unmarshal(b, &list)
	var egress EgressConf
	if len(list.Plugins) != 1 {
		t.Fatalf("rootless inet runs %d plugins, want the egress plugin only", len(list.Plugins))
	}
	if err := json.Unmarshal(list.Plugins[0], &egress); err != nil {
		t.Fatal(err)
	}
	for _, must := range []string{"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "169.254.0.0/16", "127.0.0.0/8", "fc00::/7", "fe80::/10", "::ffff:0:0/96", "203.0.113.7/32"} {
		if !slices.Contains(egress.Deny, must) {
			t.Errorf("inet does not deny %s", must)
		}
	}
	if egress.Type != EgressType || egress.Resolver != UplinkDNS || !egress.BlockIPv6 {
		t.Errorf("egress %+v", egress)
	}
}
