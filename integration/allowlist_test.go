package integration

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// TestAllowlist: the allowlist tier lets through only the names on the
// list, on their ports, by name, and says so; as the user and as root. The
// world's "CDN" (198.51.100.20) answers for cdn-a.test (listed) and
// cdn-b.test (not).
func TestAllowlist(t *testing.T) {
	needSuite(t)
	asUserAndRoot(t, func(t *testing.T, as *account) {
		in := invocation{as: as, dir: worldProject(t, as)}
		queries := "/run/claudebox-testworld/peers.log"
		before, _ := os.ReadFile(queries)
		r := in.inWorld(t, "run", "--network", "allowlist", "--allow-host", "cdn-a.test", "--allow-host", "cdn-a.test:2222",
			"--allow-host", "rebind.test:8080", "--", "./testpeer", "probe",
			"a-https=tls:cdn-a.test:443",
			"a-http=http:cdn-a.test:80",
			"a-tcp=cdn-a.test:2222",
			"b-dns=dns:cdn-b.test",
			"exfil-dns=dns:c2VjcmV0.exfil.test",
			"b-sni=tls:cdn-b.test:443@198.51.100.20:443",
			"b-host=http:cdn-b.test:80@198.51.100.20:80",
			"ip-literal=198.51.100.10:8080",
			"a-other-port=tls:cdn-a.test:8443",
			"rebind=rebind.test:8080",
			"udp=udp:198.51.100.53:53")
		mustExit(t, r, 0)
		got := map[string]struct {
			ok     bool
			ms     int
			detail string
		}{}
		for _, l := range strings.Split(r.stdout, "\n") {
			f := strings.SplitN(l, " ", 4)
			if len(f) == 4 {
				var ms int
				json.Unmarshal([]byte(f[2]), &ms)
				got[f[0]] = struct {
					ok     bool
					ms     int
					detail string
				}{f[1] == "ok", ms, f[3]}
			}
		}
		for name, want := range map[string]string{
			"a-https": "hello over TLS to SNI=cdn-a.test", "a-http": "hello HTTP Host=cdn-a.test", "a-tcp": "hello from 198.51.100.20:2222",
		} {
			if g := got[name]; !g.ok || !strings.Contains(g.detail, want) {
				t.Errorf("%s: %+v, want ok with %q\n%s", name, g, want, r)
			}
		}
		for _, name := range []string{"b-dns", "exfil-dns", "b-sni", "b-host", "ip-literal", "a-other-port", "rebind", "udp"} {
			g, ok := got[name]
			switch {
			case !ok:
				t.Errorf("%s: not probed\n%s", name, r)
			case g.ok:
				t.Errorf("%s: went through: %s", name, g.detail)
			case g.ms > 100:
				t.Errorf("%s: refused after %d ms; refusals must be at once (%s)", name, g.ms, g.detail)
			}
		}
		if d := got["b-dns"].detail; !strings.Contains(d, "no such host") {
			t.Errorf("cdn-b.test: %q, want NXDOMAIN", d)
		}
		// The stub never passed an unlisted query on.
		after, _ := os.ReadFile(queries)
		asked := strings.TrimPrefix(string(after), string(before))
		for _, n := range []string{"cdn-b.test", "exfil.test"} {
			if strings.Contains(asked, n) {
				t.Errorf("a query for %s reached the world's DNS server:\n%s", n, asked)
			}
		}
		if !strings.Contains(asked, "dns-query cdn-a.test") {
			t.Errorf("the listed name was not resolved upstream (is the log working?):\n%s", asked)
		}
		mustContain(t, r, "refused in the allowlist tier", "claudebox net-log")

		// The log holds each decision.
		lr := in.run(t, "net-log", "--json")
		mustExit(t, lr, 0)
		var log []struct{ Kind, Name, Verdict, Reason string }
		if err := json.Unmarshal([]byte(lr.stdout), &log); err != nil {
			t.Fatalf("net-log --json: %v\n%s", err, lr)
		}
		has := func(kind, name, verdict string) bool {
			for _, e := range log {
				if e.Kind == kind && e.Name == name && e.Verdict == verdict {
					return true
				}
			}
			return false
		}
		for _, c := range [][3]string{{"dns", "cdn-b.test", "refused"}, {"dns", "cdn-a.test", "answered"}, {"tcp", "cdn-a.test", "allowed"},
			{"tcp", "cdn-b.test", "refused"}} {
			if !has(c[0], c[1], c[2]) {
				t.Errorf("net-log lacks %s %s %s:\n%s", c[0], c[1], c[2], lr.stdout)
			}
		}
		// --allow-net keeps its meaning: an address let through.
		ar := in.inWorld(t, "run", "-q", "--network", "allowlist", "--allow-net", "192.168.77.10:8080", "--",
			"./testpeer", "probe", "lan=192.168.77.10:8080", "lan-other-port=192.168.77.10:8081")
		mustContain(t, ar, "lan ok", "lan-other-port fail")

		// git, with no proxy settings, clones over HTTPS from a listed
		// host (git.test, in the world).
		gr := in.inWorld(t, "run", "-q", "--network", "allowlist", "--allow-host", "git.test", "--",
			"sh", "-c", "git -c http.sslVerify=false clone -q https://git.test/repo.git cloned && git -C cloned log --format=%s")
		mustExit(t, gr, 0)
		mustContain(t, gr, "from git.test")
		if as != nil {
			assertNothingLeft(t, as)
		}
	})
}
